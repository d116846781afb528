-- The schema of the first release (commit b665c0f), for the migration tests: rendered for postgresql from
-- that commit's wastesvc/storage/_tables.py with SQLAlchemy's CreateTable/CreateIndex. Do not edit.

CREATE TABLE containers (
	id VARCHAR NOT NULL, 
	commune_code VARCHAR NOT NULL, 
	locality VARCHAR NOT NULL, 
	street_address VARCHAR NOT NULL, 
	lat FLOAT NOT NULL, 
	lng FLOAT NOT NULL, 
	stream VARCHAR NOT NULL, 
	volume_l INTEGER NOT NULL, 
	model_id VARCHAR NOT NULL, 
	empty_distance_mm INTEGER NOT NULL, 
	full_distance_mm INTEGER NOT NULL, 
	access_windows VARCHAR NOT NULL, 
	service_s INTEGER NOT NULL, 
	isle VARCHAR NOT NULL, 
	required_equipment VARCHAR NOT NULL, 
	sensor_id VARCHAR, 
	last_emptied_time TIMESTAMP WITHOUT TIME ZONE, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	update_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_containers PRIMARY KEY (id), 
	CONSTRAINT uq_containers_sensor_id UNIQUE (sensor_id)
);

CREATE INDEX ix_containers_commune_code ON containers (commune_code);

CREATE INDEX ix_containers_isle ON containers (isle);

CREATE INDEX ix_containers_stream ON containers (stream);

CREATE TABLE depots (
	id VARCHAR NOT NULL, 
	display_name VARCHAR NOT NULL, 
	lat FLOAT NOT NULL, 
	lng FLOAT NOT NULL, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	update_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_depots PRIMARY KEY (id)
);

CREATE TABLE facilities (
	id VARCHAR NOT NULL, 
	display_name VARCHAR NOT NULL, 
	lat FLOAT NOT NULL, 
	lng FLOAT NOT NULL, 
	streams VARCHAR NOT NULL, 
	open_s INTEGER NOT NULL, 
	close_s INTEGER NOT NULL, 
	dump_s INTEGER NOT NULL, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	update_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_facilities PRIMARY KEY (id)
);

CREATE TABLE observations (
	id SERIAL NOT NULL, 
	source VARCHAR NOT NULL, 
	entity_id VARCHAR NOT NULL, 
	entity_type VARCHAR NOT NULL, 
	property VARCHAR NOT NULL, 
	number_value FLOAT, 
	string_value VARCHAR, 
	bool_value BOOLEAN, 
	unit VARCHAR NOT NULL, 
	observe_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lat FLOAT, 
	lng FLOAT, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_observations PRIMARY KEY (id), 
	CONSTRAINT uq_observations_source_entity_time UNIQUE (source, entity_id, property, observe_time)
);

CREATE INDEX ix_observations_entity_id ON observations (entity_id);

CREATE INDEX ix_observations_entity_type ON observations (entity_type);

CREATE INDEX ix_observations_source ON observations (source);

CREATE TABLE operations (
	id VARCHAR NOT NULL, 
	request_id VARCHAR, 
	done BOOLEAN NOT NULL, 
	body BYTEA NOT NULL, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	update_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_operations PRIMARY KEY (id), 
	CONSTRAINT uq_operations_request_id UNIQUE (request_id)
);

CREATE TABLE route_plans (
	id VARCHAR NOT NULL, 
	service_date DATE NOT NULL, 
	body BYTEA NOT NULL, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_route_plans PRIMARY KEY (id)
);

CREATE INDEX ix_route_plans_service_date ON route_plans (service_date);

CREATE TABLE readings (
	id SERIAL NOT NULL, 
	container_id VARCHAR NOT NULL, 
	sensor_id VARCHAR NOT NULL, 
	measure_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	fill FLOAT NOT NULL, 
	distance_mm INTEGER, 
	battery_percent FLOAT, 
	temperature_c FLOAT, 
	tilted BOOLEAN NOT NULL, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_readings PRIMARY KEY (id), 
	CONSTRAINT uq_readings_container_time UNIQUE (container_id, measure_time), 
	CONSTRAINT fk_readings_container_id_containers FOREIGN KEY(container_id) REFERENCES containers (id) ON DELETE CASCADE
);

CREATE INDEX ix_readings_container_time ON readings (container_id, measure_time);

CREATE TABLE vehicles (
	id VARCHAR NOT NULL, 
	display_name VARCHAR NOT NULL, 
	capacity_l INTEGER NOT NULL, 
	capacity_kg INTEGER NOT NULL, 
	streams VARCHAR NOT NULL, 
	home_depot VARCHAR NOT NULL, 
	shift_start_s INTEGER NOT NULL, 
	shift_end_s INTEGER NOT NULL, 
	break_start_s INTEGER NOT NULL, 
	break_end_s INTEGER NOT NULL, 
	break_s INTEGER NOT NULL, 
	cost_per_km FLOAT NOT NULL, 
	cost_per_hour FLOAT NOT NULL, 
	daily_volume_cap_l INTEGER NOT NULL, 
	equipment VARCHAR NOT NULL, 
	create_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	update_time TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_vehicles PRIMARY KEY (id), 
	CONSTRAINT fk_vehicles_home_depot_depots FOREIGN KEY(home_depot) REFERENCES depots (id)
);

CREATE INDEX ix_vehicles_home_depot ON vehicles (home_depot);
