"""City data platform: NGSI-LD entities of the Smart Data Models, to and from a context broker."""
