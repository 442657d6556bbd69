-- Roles and database for api-app, run by bootstrap.sh as the admin. Least privilege for the pods: the NOLOGIN
-- role :app_owner owns the database (and so, through pg_database_owner, its public schema) and everything in
-- it, and nobody logs in as it; the migrations run as it (`api-app migrate`, in this Job after this script,
-- logged in as the admin, who is its member). The NOLOGIN role :app_owner_rw may read and write the rows of
-- every table the owner creates (SELECT, INSERT, UPDATE, DELETE; no TRUNCATE, no DDL, no TEMP) and nothing
-- else. The pods log in as one of two alternating users, :app_owner_a and :app_owner_b, members of
-- :app_owner_rw only, as Secrets Manager's multi-user RDS rotation does: a rotation sets a new password on the
-- user the app is not using and then names that user in the Secret; the other user keeps its password, so no
-- login is ever refused. None of the four holds SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS.
-- Every statement is idempotent.

-- Read here, not passed on the command line, so the password never shows in a process list.
\set app_password `cat :'password_file'`
\set app_owner_a :app_owner '_a'
\set app_owner_b :app_owner '_b'
\set app_owner_rw :app_owner '_rw'

-- The owner: NOLOGIN when new. An install from before the alternating users has it as a login role that
-- running pods still use; it is closed at the end of this script, once the login users exist.
SELECT format('CREATE ROLE %I NOLOGIN', r)
FROM unnest(ARRAY[:'app_owner', :'app_owner_rw']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
SELECT format('CREATE ROLE %I LOGIN', u)
FROM unnest(ARRAY[:'app_owner_a', :'app_owner_b']) AS u
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = u) \gexec

-- Only a superuser can clear these, and the admin is none on RDS: refuse to hand the database to such a role.
SELECT format('DO $$BEGIN RAISE EXCEPTION %L; END$$',
              format('role %s holds SUPERUSER, REPLICATION or BYPASSRLS; revoke it by hand', rolname))
FROM pg_roles
WHERE rolname IN (:'app_owner', :'app_owner_rw', :'app_owner_a', :'app_owner_b')
  AND (rolsuper OR rolreplication OR rolbypassrls)
\gexec

-- Handing the owner a database, granting on its tables and running the migrations as it need membership with
-- ADMIN and SET (PostgreSQL 16 gives the creator of a role ADMIN only; USAGE, membership that inherits, implies
-- SET on 15 and later).
SELECT format('GRANT %I TO CURRENT_USER', :'app_owner')
WHERE NOT pg_has_role(current_user, :'app_owner', 'USAGE') \gexec

-- The login users hold the row role, and no longer the owner. An install from before this split made them
-- members of the owner that started each session as it: their open sessions keep acting as the owner until
-- they end (the rollout after this hook replaces the pods), and their new ones act as themselves.
SELECT format('GRANT %I TO %I', :'app_owner_rw', u)
FROM unnest(ARRAY[:'app_owner_a', :'app_owner_b']) AS u
WHERE NOT pg_has_role(u, :'app_owner_rw', 'USAGE') \gexec
SELECT format('REVOKE %I FROM %I', :'app_owner', u)
FROM unnest(ARRAY[:'app_owner_a', :'app_owner_b']) AS u
WHERE EXISTS (
  SELECT FROM pg_auth_members
  WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = :'app_owner')
    AND member = (SELECT oid FROM pg_roles WHERE rolname = u)
) \gexec

ALTER ROLE :"app_owner" WITH NOCREATEDB NOCREATEROLE;
ALTER ROLE :"app_owner_rw" WITH NOLOGIN NOCREATEDB NOCREATEROLE;
ALTER ROLE :"app_owner_a" WITH LOGIN NOCREATEDB NOCREATEROLE;
ALTER ROLE :"app_owner_b" WITH LOGIN NOCREATEDB NOCREATEROLE;
-- Only when set, so a rerun writes nothing to pg_db_role_setting.
SELECT format('ALTER ROLE %I RESET role', u)
FROM unnest(ARRAY[:'app_owner_a', :'app_owner_b']) AS u
WHERE EXISTS (
  SELECT FROM pg_db_role_setting s
  WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = u) AND s.setdatabase = 0
    AND EXISTS (SELECT FROM unnest(s.setconfig) AS c WHERE c LIKE 'role=%')
) \gexec

-- The password comes from the Secret on every run, and only the user the Secret names gets it: the other
-- user keeps its own, so sessions still opening with the previous Secret log in.
ALTER ROLE :"app_login" WITH PASSWORD :'app_password';

SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') \gexec

ALTER DATABASE :"app_db" OWNER TO :"app_owner";
-- Nobody but the login users (and the admin) may connect, and none of them may create temporary tables.
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"app_db" TO :"app_owner_rw";

-- The rows, in the database itself: of every table and sequence the owner has, and (default privileges) of
-- every one its migrations create from now on. As the owner, which grants on what it owns. The pods read the
-- migrations' ledger (DATABASE_MIGRATIONS=verify) but never write it: a forged row would skip a migration.
\connect :"app_db"
SET ROLE :"app_owner";
GRANT USAGE ON SCHEMA public TO :"app_owner_rw";
-- All tables but the migrations' ledger, which only the owner writes (`api-app migrate` revokes the same after
-- it creates it): in one transaction, so the ledger is never writable in between.
BEGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_owner_rw";
SELECT format('REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM %I', :'app_owner_rw')
WHERE to_regclass('public.schema_migrations') IS NOT NULL \gexec
COMMIT;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_owner_rw";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_owner_rw";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app_owner_rw";
RESET ROLE;

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
