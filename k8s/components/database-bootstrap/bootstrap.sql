-- Role and database for api-app, run by bootstrap.sh as the admin. The role can log in and owns its database
-- (and so, through pg_database_owner, its public schema) and nothing more: no SUPERUSER, CREATEDB,
-- CREATEROLE, REPLICATION or BYPASSRLS. Every statement is idempotent.

-- Read here, not passed on the command line, so the password never shows in a process list.
\set app_password `cat :'password_file'`

SELECT format('CREATE ROLE %I LOGIN', :'app_user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec

-- Only a superuser can clear these, and the admin is none on RDS: refuse to hand the database to such a role.
SELECT format('DO $$BEGIN RAISE EXCEPTION %L; END$$',
              format('role %s holds SUPERUSER, REPLICATION or BYPASSRLS; revoke it by hand', rolname))
FROM pg_roles
WHERE rolname = :'app_user' AND (rolsuper OR rolreplication OR rolbypassrls) \gexec

-- The password comes from the Secret on every run, so rotating it is: put the new value, then sync.
ALTER ROLE :"app_user" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'app_password';

-- Handing a database to a role needs membership with SET (PostgreSQL 16 gives its creator ADMIN only);
-- USAGE (membership that inherits) implies that on 15 and later.
SELECT format('GRANT %I TO CURRENT_USER', :'app_user')
WHERE NOT pg_has_role(current_user, :'app_user', 'USAGE') \gexec

SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') \gexec

ALTER DATABASE :"app_db" OWNER TO :"app_user";
-- Nobody but the owner (and the admin) may connect.
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
