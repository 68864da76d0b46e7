#!/usr/bin/env bash
# Creates Sealpost's two database roles and its database. The postgres image runs this once, as
# the superuser, when it initialises an empty data volume (docker-compose.yml mounts this
# directory at /docker-entrypoint-initdb.d). See docs/deploy.md.
#
#   sealpost_owner  owns the database and, through migrate, every table. Not a superuser. Only the
#                   one-shot migrate service ever has its password.
#   sealpost_app    what web, worker and beat connect as: owns nothing, cannot bypass row-level
#                   security; migrate grants it SELECT, INSERT, UPDATE and DELETE on the tables.
set -Eeo pipefail

: "${SEALPOST_DB_OWNER_PASSWORD:?SEALPOST_DB_OWNER_PASSWORD must be set for the postgres service}"
: "${SEALPOST_DB_APP_PASSWORD:?SEALPOST_DB_APP_PASSWORD must be set for the postgres service}"

# Passwords travel as psql variables and are quoted by psql (:'name'), never spliced into SQL.
psql -X -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set owner_password="$SEALPOST_DB_OWNER_PASSWORD" \
    --set app_password="$SEALPOST_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE sealpost_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE sealpost_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
CREATE DATABASE sealpost OWNER sealpost_owner;
-- Only the two roles (and superusers) may connect to it.
REVOKE ALL ON DATABASE sealpost FROM PUBLIC;
GRANT CONNECT ON DATABASE sealpost TO sealpost_app;
SQL

psql -X -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname sealpost <<'SQL'
-- Tables are created by the owner alone (PostgreSQL 15+ already withholds CREATE from PUBLIC;
-- this keeps it so). migrate grants the application role USAGE and its table privileges.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
