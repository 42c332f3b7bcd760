-- One database and one login role per service: a service never reads another's database
-- (DESIGN.md). The postgres image runs this once, on an empty data volume. The passwords are
-- for this single-machine setup only (compose.yaml does not publish PostgreSQL's port);
-- Kubernetes takes them from Secrets (deploy/k8s/postgres/cluster.yaml).
CREATE ROLE gateway LOGIN PASSWORD 'gateway';
CREATE DATABASE tongban_gateway OWNER gateway;
REVOKE ALL ON DATABASE tongban_gateway FROM PUBLIC;

CREATE ROLE catalog LOGIN PASSWORD 'catalog';
CREATE DATABASE tongban_catalog OWNER catalog;
REVOKE ALL ON DATABASE tongban_catalog FROM PUBLIC;

CREATE ROLE cases LOGIN PASSWORD 'cases';
CREATE DATABASE tongban_cases OWNER cases;
REVOKE ALL ON DATABASE tongban_cases FROM PUBLIC;

CREATE ROLE credentials LOGIN PASSWORD 'credentials';
CREATE DATABASE tongban_credentials OWNER credentials;
REVOKE ALL ON DATABASE tongban_credentials FROM PUBLIC;

CREATE ROLE queue LOGIN PASSWORD 'queue';
CREATE DATABASE tongban_queue OWNER queue;
REVOKE ALL ON DATABASE tongban_queue FROM PUBLIC;

CREATE ROLE interop LOGIN PASSWORD 'interop';
CREATE DATABASE tongban_interop OWNER interop;
REVOKE ALL ON DATABASE tongban_interop FROM PUBLIC;
