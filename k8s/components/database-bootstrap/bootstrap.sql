-- Roles and database for api-app, run by bootstrap.sh as the admin. Alternating users, as Secrets Manager's
-- multi-user RDS rotation does: the NOLOGIN role :app_owner owns the database (and so, through
-- pg_database_owner, its public schema) and everything in it; the login users :app_owner_a and :app_owner_b
-- are members of it, and each starts its sessions as it (`SET role`), so what either creates (the
-- migrations) belongs to the owner. A rotation sets a new password on the user the app is not using and
-- then names that user in the Secret; the other user keeps its password, so no login is ever refused. None
-- of the three holds SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS. Every statement is idempotent.

-- Read here, not passed on the command line, so the password never shows in a process list.
\set app_password `cat :'password_file'`
\set app_owner_a :app_owner '_a'
\set app_owner_b :app_owner '_b'

-- The owner: NOLOGIN when new. An install from before the alternating users has it as a login role that
-- running pods still use; it is closed at the end of this script, once the login users exist.
SELECT format('CREATE ROLE %I NOLOGIN', :'app_owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', u)
FROM unnest(ARRAY[:'app_owner_a', :'app_owner_b']) AS u
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = u) \gexec

-- Only a superuser can clear these, and the admin is none on RDS: refuse to hand the database to such a role.
SELECT format('DO $$BEGIN RAISE EXCEPTION %L; END$$',
              format('role %s holds SUPERUSER, REPLICATION or BYPASSRLS; revoke it by hand', rolname))
FROM pg_roles
WHERE rolname IN (:'app_owner', :'app_owner_a', :'app_owner_b') AND (rolsuper OR rolreplication OR rolbypassrls)
\gexec

-- Granting the owner, and handing it a database, needs membership with ADMIN and SET (PostgreSQL 16 gives
-- the creator of a role ADMIN only; USAGE, membership that inherits, implies SET on 15 and later).
SELECT format('GRANT %I TO CURRENT_USER', :'app_owner')
WHERE NOT pg_has_role(current_user, :'app_owner', 'USAGE') \gexec

SELECT format('GRANT %I TO %I', :'app_owner', u)
FROM unnest(ARRAY[:'app_owner_a', :'app_owner_b']) AS u
WHERE NOT pg_has_role(u, :'app_owner', 'USAGE') \gexec

ALTER ROLE :"app_owner" WITH NOCREATEDB NOCREATEROLE;
ALTER ROLE :"app_owner_a" WITH LOGIN NOCREATEDB NOCREATEROLE;
ALTER ROLE :"app_owner_b" WITH LOGIN NOCREATEDB NOCREATEROLE;
-- Only when it differs, so a rerun writes nothing to pg_db_role_setting.
SELECT format('ALTER ROLE %I SET role = %L', u, :'app_owner')
FROM unnest(ARRAY[:'app_owner_a', :'app_owner_b']) AS u
WHERE NOT EXISTS (
  SELECT FROM pg_db_role_setting s
  WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = u) AND s.setdatabase = 0
    AND format('role=%s', :'app_owner') = ANY (s.setconfig)
) \gexec

-- The password comes from the Secret on every run, and only the user the Secret names gets it: the other
-- user keeps its own, so sessions still opening with the previous Secret log in.
ALTER ROLE :"app_login" WITH PASSWORD :'app_password';

SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') \gexec

ALTER DATABASE :"app_db" OWNER TO :"app_owner";
-- Nobody but the owner's members (and the admin) may connect.
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;

-- Upgrading an install from before the alternating users: the owner logged in itself. It stops only when
-- no session of it is open, because pods of the previous release log in as it until the rollout that
-- follows this hook replaces them; while one is, it keeps LOGIN and its password, and the next sync
-- closes it. Closed, it holds no password.
SELECT format('ALTER ROLE %I WITH NOLOGIN PASSWORD NULL', :'app_owner')
FROM pg_roles
WHERE rolname = :'app_owner' AND rolcanlogin
  AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE usename = :'app_owner') \gexec
SELECT rolcanlogin AS owner_logs_in FROM pg_roles WHERE rolname = :'app_owner' \gset
\if :owner_logs_in
\warn 'bootstrap: the owner role still has sessions open (pods of the previous release), so it keeps LOGIN until the next sync'
\endif
