"""Street parking: occupancy in (FIWARE OnStreetParking), no-parking windows out."""
