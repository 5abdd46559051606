-- gristmill metadata schema at alembic revision 0001; see schema_script.py
BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0001');
CREATE TABLE artifact_types (
	id INTEGER NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	properties JSON NOT NULL, 
	create_time FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE TABLE artifacts (
	id INTEGER NOT NULL, 
	type_id INTEGER NOT NULL, 
	uri TEXT NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	properties JSON NOT NULL, 
	custom_properties JSON NOT NULL, 
	fingerprint VARCHAR(255), 
	producer_component VARCHAR(255), 
	output_key VARCHAR(255), 
	create_time FLOAT NOT NULL, 
	update_time FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(type_id) REFERENCES artifact_types (id)
);
CREATE TABLE associations (
	context_id INTEGER NOT NULL, 
	execution_id INTEGER NOT NULL, 
	PRIMARY KEY (context_id, execution_id), 
	FOREIGN KEY(context_id) REFERENCES contexts (id), 
	FOREIGN KEY(execution_id) REFERENCES executions (id)
);
CREATE TABLE attributions (
	context_id INTEGER NOT NULL, 
	artifact_id INTEGER NOT NULL, 
	PRIMARY KEY (context_id, artifact_id), 
	FOREIGN KEY(context_id) REFERENCES contexts (id), 
	FOREIGN KEY(artifact_id) REFERENCES artifacts (id)
);
CREATE TABLE contexts (
	id INTEGER NOT NULL, 
	type VARCHAR(64) NOT NULL, 
	name VARCHAR(512) NOT NULL, 
	properties JSON NOT NULL, 
	create_time FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_contexts_type_name UNIQUE (type, name)
);
CREATE TABLE events (
	id INTEGER NOT NULL, 
	execution_id INTEGER NOT NULL, 
	artifact_id INTEGER NOT NULL, 
	type VARCHAR(16) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	position INTEGER NOT NULL, 
	create_time FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(execution_id) REFERENCES executions (id), 
	FOREIGN KEY(artifact_id) REFERENCES artifacts (id)
);
CREATE TABLE executions (
	id INTEGER NOT NULL, 
	component_id VARCHAR(255) NOT NULL, 
	component_type VARCHAR(255) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	parameters JSON NOT NULL, 
	cache_key VARCHAR(255), 
	cache_ingredients JSON NOT NULL, 
	pipeline_name VARCHAR(255), 
	run_id VARCHAR(255), 
	start_time FLOAT, 
	end_time FLOAT, 
	error TEXT, 
	pid INTEGER, 
	host VARCHAR(255), 
	custom_properties JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_artifacts_state ON artifacts (state);
CREATE INDEX ix_artifacts_type_id ON artifacts (type_id);
CREATE INDEX ix_artifacts_producer_component ON artifacts (producer_component);
CREATE INDEX ix_executions_cache_key ON executions (cache_key);
CREATE INDEX ix_executions_run_id ON executions (run_id);
CREATE INDEX ix_executions_state ON executions (state);
CREATE INDEX ix_attributions_artifact_id ON attributions (artifact_id);
CREATE INDEX ix_associations_execution_id ON associations (execution_id);
CREATE INDEX ix_events_execution_id ON events (execution_id);
CREATE INDEX ix_events_artifact_id ON events (artifact_id);
COMMIT;
