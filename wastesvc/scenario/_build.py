"""Generate ``grand_soissons.json`` from the territory reference folder (build time only).

Run ``python -m wastesvc.scenario._build data/territory``; it also writes the rural tenant's
``champagne_picarde.json`` beside it (see `_rural`). Only ``communes.csv`` is read; every other value
is a constant below, with its origin in ``SOURCES``. The output is byte-for-byte reproducible: the random
draws use the stdlib generator (stable across Python versions) seeded per commune.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

__all__ = ["DEFAULT_OUTPUT", "build", "main", "render"]

DEFAULT_OUTPUT = Path(__file__).with_name("grand_soissons.json")

SEED = 20251124
GRANDSOISSONS_SIREN = "240200477"
SOISSONS = "02722"
VILLENEUVE_SAINT_GERMAIN = "02805"
# Communes with blocks of flats, where semi-buried 5 m³ residual containers are plausible (not verified).
URBAN = frozenset({SOISSONS, "02064", "02243", VILLENEUVE_SAINT_GERMAIN})
KM_PER_DEG_LAT = 111.32

FACILITIES_MD = "data/territory/facilities.md"
URL_FITAMANT = (
    "https://rr.network.fitamant.bzh/archives-dechets-com/dechetteries-du-soissonnais-nentre-plus-qui-veut"
)
URL_FRANCE3 = (
    "https://france3-regions.francetvinfo.fr/hauts-de-france/aisne/"
    "tri-selectif-dans-l-aisne-desormais-tous-les-emballages-vont-dans-la-poubelle-jaune-2250904.html"
)
URL_VALORAISNE = (
    "https://docslib.org/doc/995394/t%C3%A9l%C3%A9charger-la-plaquette-de-pr%C3%A9sentation-du-centre"
)
URL_TRANSFER = "https://docslib.org/doc/4136991/inauguration-durvillers"
URL_REGLEMENT = "https://vdocuments.fr/11-avenue-francois-mitterrand-les-terrasses-du-mail-agglo-des-dechets-conditions.html"
URL_EN840 = (
    "https://standards.iteh.ai/catalog/standards/sist/3332274c-7f97-4c59-8b6f-4f40a67ab917/"
    "sist-en-840-2-2020?reviews=true"
)
URL_SEMI_BURIED = (
    "https://montceau-news.com/la_communaute/"
    "19207-collecte-des-dechets-menagers-generalisation-des-conteneurs-semi-enterres.html"
)
URL_BOM = (
    "https://waste-management-world.com/a/"
    "hands-on-less-is-more-for-geesink-norba-bodied-daf-refuse-collection-vehicle"
)
URL_BOM_BODY = "https://www.transportengineer.org.uk/content/news/luton-goes-for-daf-cf-290-rcvs-in-fleet-replacement-deal/"
URL_CRANE = "https://www.fraikin.fr/fr/road-it/bien-choisir-sa-grue-auxiliaire"
URL_DA = "https://github.com/datagouv/decoupage-administratif"
URL_OPTIGEDE = (
    "https://www.optigede.ademe.fr/fiche/"
    "connaissance-du-gisement-et-de-la-composition-des-ordures-menageres-residuelles-travers-la"
)
URL_MODECOM = "https://presse.ademe.fr/2021/03/modecom-2017-ce-que-revelent-les-poubelles-des-francais.html"
URL_INSEE_SOISSONS = "https://www.insee.fr/fr/statistiques/2008604?geo=COM-02722"

ATTRIBUTION = (
    "Sources : INSEE (populations légales 2023, COG), DGCL (composition des EPCI 2025), "
    "IGN Admin Express COG 2018 via france-geojson, Etalab « Communes et villes de France » 2025 — "
    "Licence Ouverte / Etalab 2.0."
)

Json: TypeAlias = dict[str, object]

SOURCES: list[Json] = [
    {
        "id": "insee-population-2023",
        "status": "public",
        "used_for": "communes[].population",
        "origin": "INSEE « Populations légales », millésime 2023 (population municipale), read from "
        "datagouv/decoupage-administratif @ 98976e5f29e66b8449cf64eaf3e2be0b8d9e7d85, "
        "sources/donnees_communes.csv",
        "licence": "Licence Ouverte / Etalab 2.0",
        "urls": [URL_DA],
    },
    {
        "id": "dgcl-epci-2025",
        "status": "public",
        "used_for": "communes (the 27 members of GrandSoissons Agglomération, SIREN 240200477)",
        "origin": "DGCL « Liste et composition des EPCI à fiscalité propre » 2025 (epcicom), read from "
        "datagouv/decoupage-administratif @ 98976e5f29e66b8449cf64eaf3e2be0b8d9e7d85, sources/epcicom.xlsx",
        "licence": "Licence Ouverte / Etalab 2.0",
        "urls": [URL_DA],
    },
    {
        "id": "insee-cog",
        "status": "public",
        "used_for": "communes[].insee_code, communes[].name (COG 2025/2026, Bernoy-le-Château merger)",
        "origin": "INSEE COG communes and change history, read from datagouv/decoupage-administratif, "
        "sources/communes.csv and sources/mouvements-communes.csv",
        "licence": "Licence Ouverte / Etalab 2.0",
        "urls": [URL_DA],
    },
    {
        "id": "etalab-communes-2025",
        "status": "public",
        "used_for": "communes[].lat, communes[].lng (town-hall point, rounded to 0.001°)",
        "origin": "Etalab data.gouv.fr « Communes et villes de France » 2025 (latitude_mairie, "
        "longitude_mairie); the copy read (lusokol/Slasherz-backend @ "
        "f15f4e767d2c57b479ee7e49d6225a9e19015c10) has no licence file, only coordinates were taken",
        "licence": "believed Licence Ouverte 2.0 (upstream data.gouv.fr dataset)",
        "urls": [],
    },
    {
        "id": "ign-admin-express-2018",
        "status": "public",
        "used_for": "communes[].area_km2 (sizes the scatter radius of generated containers)",
        "origin": "IGN Admin Express COG 2018 polygons via gregoiredavid/france-geojson @ "
        "5d34ee6d0140c29f785fdb047d9329f1aab58833, area computed in Lambert-93",
        "licence": "Licence Ouverte",
        "urls": ["https://github.com/gregoiredavid/france-geojson"],
    },
    {
        "id": "valoraisne-sorting-centre",
        "status": "public",
        "used_for": "facilities[VA-TRI-VSG] existence (not its position)",
        "origin": "Valor'Aisne runs a sorting centre in Villeneuve-Saint-Germain, one of the 3 Aisne sorting "
        "centres; all packaging goes in the yellow stream since 13 Sept 2021 (" + FACILITIES_MD + " §2, §3)",
        "licence": None,
        "urls": [URL_VALORAISNE, URL_FRANCE3],
    },
    {
        "id": "dechetteries-2019",
        "status": "public",
        "used_for": "facilities[VERRE-MERCIN] site choice (the déchèterie exists; its use as glass "
        "transfer point is assumed)",
        "origin": "the two déchèteries of the territory are at Mercin-et-Vaux and Villeneuve-Saint-Germain "
        "(2019, " + FACILITIES_MD + " §2)",
        "licence": None,
        "urls": [URL_FITAMANT],
    },
    {
        "id": "reglement-collecte",
        "status": "public",
        "used_for": "streams (glass is a separate stream)",
        "origin": "table of contents of the CA du Soissonnais collection regulation ("
        + FACILITIES_MD
        + " §1)",
        "licence": None,
        "urls": [URL_REGLEMENT],
    },
    {
        "id": "equipment-generic",
        "status": "public",
        "used_for": "container_models volume classes, vehicles body sizes (generic, not Soissons-specific)",
        "origin": "EN 840-2 4-wheel bins ≤ 1300 L; 5000 L semi-buried containers (Montceau example); 26 t "
        "three-axle BOM; 21 m³ body on a 26 t chassis; crane trucks for PAV (" + FACILITIES_MD + " §4)",
        "licence": None,
        "urls": [URL_EN840, URL_SEMI_BURIED, URL_BOM, URL_BOM_BODY, URL_CRANE],
    },
    {
        "id": "code-du-travail-pause",
        "status": "public",
        "used_for": "vehicles[].pause (at least 20 consecutive minutes once daily work reaches 6 h)",
        "origin": "Code du travail, article L3121-16 (cited from general knowledge, not retrieved for this "
        "project); the 30 min length and the window are assumed",
        "licence": None,
        "urls": [],
    },
    {
        "id": "valoraisne-omr-characterisation",
        "status": "public",
        "used_for": "deposits[residual] (224 kg per inhabitant per year)",
        "origin": "Valor'Aisne's departmental characterisation of residual waste (47 samples from 12 of "
        "its 14 members), published on ADEME's OPTIGEDE site: sanitary textiles are 19 kg/hab./an, 8.5 % of "
        "residual waste, hence 19 / 0.085 = 224 kg/hab./an (derived here, not printed as such)",
        "licence": None,
        "urls": [URL_OPTIGEDE],
    },
    {
        "id": "ademe-modecom-2017",
        "status": "public",
        "used_for": "deposits (national cross-check: 254 kg/hab./an of residual waste; the 80 kg/hab./an of "
        "separately collected glass, packaging and graphic paper that glass, packaging and paper split)",
        "origin": "ADEME press release on the MODECOM 2017 national characterisation campaign (March 2021)",
        "licence": None,
        "urls": [URL_MODECOM],
    },
    {
        "id": "insee-housing-soissons",
        "status": "public",
        "used_for": "informs communes[02722].served_share (35 % of Soissons residents use residual drop-off "
        "containers)",
        "origin": "INSEE, Logement en 2012, commune de Soissons: flats are 67.0 % of dwellings (9,715 "
        "of 14,491); the 35 % itself is assumed (residents of the large blocks, flats holding smaller "
        "households)",
        "licence": "Licence Ouverte / Etalab 2.0",
        "urls": [URL_INSEE_SOISSONS],
    },
    {
        "id": "modelled-served-shares",
        "status": "assumed",
        "used_for": "communes[].kind, communes[].served_share (except what insee-housing-soissons informs), "
        "the split of the 80 kg between glass, packaging and paper, deposits[biowaste]",
        "origin": "No GrandSoissons figure was found on who uses drop-off containers rather than "
        "door-to-door bins, nor tonnages per stream (" + FACILITIES_MD + " §5); door-to-door collection "
        "is not modelled",
        "licence": None,
        "urls": [],
    },
    {
        "id": "modelled-containers",
        "status": "invented",
        "used_for": "containers, isles (counts, positions, street labels, models, sensors, service times, "
        "access windows)",
        "origin": "Not public (" + FACILITIES_MD + " §5: number and locations of PAV, bins in use are not "
        "found). Generated by wastesvc/scenario/_build.py, seed " + str(SEED) + ": counts sized on the "
        "deposits of the served residents, each container's fill rate derived from them, points scattered "
        "around each town hall, street labels are illustrative generic names and are not geocoded addresses",
        "licence": None,
        "urls": [],
    },
    {
        "id": "modelled-depot-facility-sites",
        "status": "assumed",
        "used_for": "depot, facilities[].lat/lng, facilities[].opening, facilities[].dump_s",
        "origin": "Depot location, fleet and the destination of residual waste are not public "
        "(" + FACILITIES_MD + " §5). Sites are placed at or near town-hall points and marked assumed",
        "licence": None,
        "urls": [],
    },
    {
        "id": "modelled-fleet-parameters",
        "status": "assumed",
        "used_for": "vehicles, streams[].density_kg_per_l, streams[].truck_compaction, "
        "streams[].mean_fill_rate_per_day, streams[].weekday_factors, planning",
        "origin": "Typical values chosen for modelling; no GrandSoissons figure was found (tonnages, fleet, "
        "frequencies are listed as not found in " + FACILITIES_MD + " §5)",
        "licence": None,
        "urls": [],
    },
]

# Fill rates are fractions of a container's volume per day for containers sized to their catchment, so they
# hold across models; weekday factors (Monday first) average 1.
STREAMS: list[Json] = [
    {
        "id": "residual",
        "name_fr": "Ordures ménagères résiduelles (bac gris)",
        "name_en": "Residual waste (grey bin)",
        "sdm_waste_kind": "inorganic",
        "density_kg_per_l": 0.13,
        "truck_compaction": 3.5,
        "mean_fill_rate_per_day": 0.24,
        "weekday_factors": [1.25, 1.05, 0.95, 0.95, 0.95, 0.95, 0.90],
        "note": "Loose residual waste in a bin 0.12–0.15 kg/L; a rear-loader compacts it 3–4 times. "
        "Monday is high because weekend waste is brought down on Monday. Assumed, not measured.",
    },
    {
        "id": "packaging",
        "name_fr": "Emballages (flux jaune, tous les emballages depuis 2021)",
        "name_en": "Packaging (yellow stream, all packaging since 2021)",
        "sdm_waste_kind": "plastic",
        "density_kg_per_l": 0.035,
        "truck_compaction": 4.0,
        "mean_fill_rate_per_day": 0.08,
        "weekday_factors": [1.15, 1.00, 0.95, 0.95, 0.95, 1.05, 0.95],
        "note": "Light bulky packaging, strongly compressible. Monday and Saturday peaks follow weekend "
        "shopping and unpacking. Assumed.",
    },
    {
        "id": "paper",
        "name_fr": "Papiers (colonne papier)",
        "name_en": "Paper (paper bank)",
        "sdm_waste_kind": "paper",
        "density_kg_per_l": 0.1,
        "truck_compaction": 2.5,
        "mean_fill_rate_per_day": 0.06,
        "weekday_factors": [0.92, 0.92, 0.92, 0.92, 0.92, 1.30, 1.10],
        "note": "Whether GrandSoissons collects paper apart from packaging was not found; modelled as its "
        "own PAV stream. Loose paper 0.08–0.15 kg/L. Deposits happen when people have time (weekend). "
        "Assumed.",
    },
    {
        "id": "glass",
        "name_fr": "Verre (borne d'apport volontaire)",
        "name_en": "Glass (bottle bank)",
        "sdm_waste_kind": "glass",
        "density_kg_per_l": 0.3,
        "truck_compaction": 1.0,
        "mean_fill_rate_per_day": 0.05,
        "weekday_factors": [1.10, 0.90, 0.90, 0.90, 1.00, 1.40, 0.80],
        "note": "Separate stream per the règlement; bring banks are likely but unverified. Loose glass "
        "~0.3 kg/L, not compacted. Saturday peak (errands); Sunday low because many communes ask people not "
        "to drop glass on Sundays (noise) — not verified for GrandSoissons.",
    },
    {
        "id": "biowaste",
        "name_fr": "Biodéchets (bac marron)",
        "name_en": "Biowaste (food waste, brown bin)",
        "sdm_waste_kind": "organic",
        "density_kg_per_l": 0.45,
        "truck_compaction": 1.5,
        "mean_fill_rate_per_day": 0.18,
        "weekday_factors": [1.25, 1.05, 0.95, 0.95, 0.95, 0.95, 0.90],
        "note": "Collective food-waste bins for blocks of flats, modelled in Soissons only. Wet and dense, "
        "compacts little. Same weekly rhythm as residual waste. Assumed.",
    },
]

# height_mm is H_empty (sensor to bottom); d_full_mm is the reading at the nominal full level. Geometries are
# typical values for a lid- or roof-mounted ultrasonic sensor, not measured on GrandSoissons equipment.
CONTAINER_MODELS: list[Json] = [
    {
        "id": "bin-240",
        "name": "Bac 2 roues 240 L",
        "kind": "wheeled_bin",
        "volume_l": 240,
        "height_mm": 950,
        "d_full_mm": 150,
        "lift": "comb",
        "status": "unverified",
        "note": "2-wheel bins ≤ 400 L (EN 840-1) are general knowledge, no source retrieved; "
        "geometry typical.",
    },
    {
        "id": "bin-660",
        "name": "Bac 4 roues 660 L",
        "kind": "wheeled_bin",
        "volume_l": 660,
        "height_mm": 1080,
        "d_full_mm": 180,
        "lift": "comb",
        "status": "confirmed",
        "note": "Volume class within EN 840-2 (4-wheel ≤ 1300 L) and used in the Montceau example; "
        "geometry typical, unverified.",
    },
    {
        "id": "bin-770",
        "name": "Bac 4 roues 770 L",
        "kind": "wheeled_bin",
        "volume_l": 770,
        "height_mm": 1170,
        "d_full_mm": 180,
        "lift": "comb",
        "status": "unverified",
        "note": "Within EN 840-2 (≤ 1300 L); 770 L is a typical value from the brief; geometry typical.",
    },
    {
        "id": "bin-1100",
        "name": "Bac 4 roues 1100 L",
        "kind": "wheeled_bin",
        "volume_l": 1100,
        "height_mm": 1200,
        "d_full_mm": 180,
        "lift": "comb",
        "status": "unverified",
        "note": "Within EN 840-2 (≤ 1300 L); use in GrandSoissons not verified; geometry typical.",
    },
    {
        "id": "pav-3m3",
        "name": "Colonne aérienne 3 m³",
        "kind": "aboveground_column",
        "volume_l": 3000,
        "height_mm": 1750,
        "d_full_mm": 350,
        "lift": "crane",
        "status": "unverified",
        "note": "Aboveground PAV columns of 3–4 m³ are typical values from the brief (no source retrieved); "
        "d_full is large because waste heaps in a cone under the aperture.",
    },
    {
        "id": "pav-4m3",
        "name": "Colonne aérienne 4 m³",
        "kind": "aboveground_column",
        "volume_l": 4000,
        "height_mm": 1850,
        "d_full_mm": 350,
        "lift": "crane",
        "status": "unverified",
        "note": "As pav-3m3.",
    },
    {
        "id": "semi-buried-5m3",
        "name": "Conteneur semi-enterré 5 m³",
        "kind": "semi_buried",
        "volume_l": 5000,
        "height_mm": 2300,
        "d_full_mm": 450,
        "lift": "crane",
        "status": "confirmed",
        "note": "5000 L semi-buried containers are used for flats (Montceau example: 2 replace 16 bins of "
        "660 L); use in GrandSoissons and geometry unverified.",
    },
]

DEPOT: Json = {
    "id": "DEPOT-GS",
    "name": "Centre technique GrandSoissons (supposé)",
    "lat": 49.3785,
    "lng": 3.349,
    "status": "assumed",
    "note": "The depot location is not public. Placed in the industrial area between Soissons and "
    "Villeneuve-Saint-Germain, about 600 m west of the assumed sorting-centre point.",
}

FACILITIES: list[Json] = [
    {
        "id": "VA-TRI-VSG",
        "name": "Centre de tri Valor'Aisne, Villeneuve-Saint-Germain",
        "streams": ["packaging", "paper"],
        "opening": {"start": "05:30", "end": "18:00"},
        "dump_s": 900,
        "lat": 49.38,
        "lng": 3.357,
        "status": "assumed",
        "source_url": URL_VALORAISNE,
        "note": "The sorting centre exists (confirmed); its address and coordinates were not found, so it "
        "is placed at the town-hall point of Villeneuve-Saint-Germain (02805). Hours and unloading time "
        "assumed.",
    },
    {
        "id": "VA-TRANSFERT-VSG",
        "name": "Quai de transfert OMR et biodéchets (supposé), Villeneuve-Saint-Germain",
        "streams": ["residual", "biowaste"],
        "opening": {"start": "05:30", "end": "18:00"},
        "dump_s": 900,
        "lat": 49.382,
        "lng": 3.365,
        "status": "assumed",
        "source_url": URL_TRANSFER,
        "note": "Where GrandSoissons residual waste goes is not found (Allemant landfill unverified). "
        "Valor'Aisne runs transfer quays where collection trucks tip into larger trucks; one is assumed "
        "next to the sorting centre, about 600 m east of its assumed point. Hours and unloading time "
        "assumed.",
    },
    {
        "id": "VERRE-MERCIN",
        "name": "Point de regroupement verre (supposé), déchèterie de Mercin-et-Vaux",
        "streams": ["glass"],
        "opening": {"start": "05:30", "end": "18:00"},
        "dump_s": 600,
        "lat": 49.377,
        "lng": 3.277,
        "status": "assumed",
        "source_url": URL_FITAMANT,
        "note": "The déchèterie exists (2019); its address was not found, so it is placed at the town-hall "
        "point of Mercin-et-Vaux (02477). Its use as a glass drop point for the crane truck is assumed; "
        "tipping a hook bin is quicker than a compactor unload.",
    },
]

# capacity_l (litres of LOOSE container volume) is derived in _vehicles(). A trip carries a single stream,
# except on a compartmented body, where each compartment carries its own.
VEHICLES: list[Json] = [
    {
        "id": "BOM-01",
        "name": "BOM 26 t 6×2 chargement arrière",
        "plate": "GS-101-OM",
        "streams": ["residual"],
        "lifts": ["comb"],
        "body_l": 21000,
        "capacity_kg": 10000,
        "depot_id": "DEPOT-GS",
        "shift": {"start": "06:00", "end": "13:30"},
        "pause": {"earliest_start": "09:00", "latest_start": "10:30", "duration_s": 1800},
        "cost_per_km": 1.5,
        "cost_per_hour": 95.0,
        "co2_kg_per_km": 1.6,
        "daily_cap_l": None,
        "note": "21 m³ body (UK 26 t example) × 3.5 compaction; crew of driver and two loaders.",
    },
    {
        "id": "BOM-02",
        "name": "BOM 26 t 6×2 chargement arrière avec grue",
        "plate": "GS-102-OM",
        "streams": ["residual"],
        "lifts": ["comb", "crane"],
        "body_l": 20000,
        "capacity_kg": 9000,
        "depot_id": "DEPOT-GS",
        "shift": {"start": "06:00", "end": "13:30"},
        "pause": {"earliest_start": "09:00", "latest_start": "10:30", "duration_s": 1800},
        "cost_per_km": 1.6,
        "cost_per_hour": 95.0,
        "co2_kg_per_km": 1.7,
        "daily_cap_l": None,
        "note": "The crane (for semi-buried containers) costs body volume and payload; 20 m³ × 3.5.",
    },
    {
        "id": "BOM-03",
        "name": "BOM 19 t 4×2 avec grue (emballages, papiers)",
        "plate": "GS-103-CS",
        "streams": ["packaging", "paper"],
        "lifts": ["crane"],
        "body_l": 16000,
        "capacity_kg": 7000,
        "depot_id": "DEPOT-GS",
        "shift": {"start": "06:00", "end": "13:30"},
        "pause": {"earliest_start": "09:00", "latest_start": "10:30", "duration_s": 1800},
        "cost_per_km": 1.3,
        "cost_per_hour": 40.0,
        "co2_kg_per_km": 1.3,
        "daily_cap_l": None,
        "note": "19 t 2-axle with about 16 m³ body (unverified class); 16 m³ × 2.5 (paper, the least "
        "compressible of its streams); the driver works the crane alone.",
    },
    {
        "id": "GRU-01",
        "name": "Camion grue 26 t, benne ampliroll 30 m³ (verre, papiers)",
        "plate": "GS-104-VR",
        "streams": ["glass", "paper"],
        "lifts": ["crane"],
        "body_l": 30000,
        "capacity_kg": 10000,
        "depot_id": "DEPOT-GS",
        "shift": {"start": "06:00", "end": "13:30"},
        "pause": {"earliest_start": "09:00", "latest_start": "10:30", "duration_s": 1800},
        "cost_per_km": 1.2,
        "cost_per_hour": 40.0,
        "co2_kg_per_km": 1.4,
        "daily_cap_l": None,
        "note": "Hook bin without compaction (glass must not be compacted), so capacity equals the body.",
    },
    {
        "id": "PUC-01",
        "name": "Mini-benne 3,5 t rues étroites",
        "plate": "GS-105-PB",
        "streams": ["biowaste", "residual"],
        "lifts": ["comb"],
        "body_l": 5000,
        "capacity_kg": 1200,
        "depot_id": "DEPOT-GS",
        "shift": {"start": "06:00", "end": "13:30"},
        "pause": {"earliest_start": "09:00", "latest_start": "10:30", "duration_s": 1800},
        "cost_per_km": 0.6,
        "cost_per_hour": 60.0,
        "co2_kg_per_km": 0.35,
        "daily_cap_l": None,
        "note": "Narrow town-centre streets and biowaste bins; 5 m³ × 1.5 (biowaste); payload usually binds.",
    },
    {
        "id": "BOM-05",
        "name": "BOM 19 t 4×2 avec grue (emballages)",
        "plate": "GS-107-EM",
        "streams": ["packaging"],
        "lifts": ["crane"],
        "body_l": 16000,
        "capacity_kg": 7000,
        "depot_id": "DEPOT-GS",
        "shift": {"start": "06:00", "end": "13:30"},
        "pause": {"earliest_start": "09:00", "latest_start": "10:30", "duration_s": 1800},
        "cost_per_km": 1.3,
        "cost_per_hour": 40.0,
        "co2_kg_per_km": 1.3,
        "daily_cap_l": None,
        "note": "Added with the calibration: packaging is the largest stream by volume (about 110 m³ "
        "of loose packaging a day), more than BOM-03 alone can lift; packaging only, so 16 m³ × 4.0.",
    },
    {
        "id": "BOM-04",
        "name": "BOM 26 t bi-compartimentée (ordures ménagères, biodéchets)",
        "plate": "GS-106-BI",
        "streams": ["residual", "biowaste"],
        "lifts": ["comb"],
        "body_l": 20000,
        "capacity_kg": 10000,
        "depot_id": "DEPOT-GS",
        "shift": {"start": "06:00", "end": "13:30"},
        "pause": {"earliest_start": "09:00", "latest_start": "10:30", "duration_s": 1800},
        "cost_per_km": 1.6,
        "cost_per_hour": 95.0,
        "co2_kg_per_km": 1.7,
        "daily_cap_l": None,
        "compartments": [
            {"streams": ["residual"], "body_l": 14000, "capacity_kg": 6500},
            {"streams": ["biowaste"], "body_l": 6000, "capacity_kg": 3500},
        ],
        "note": "Two-compartment body (70/30 split, assumed): residual and biowaste bins of one street in "
        "one pass, both emptied at the transfer station that takes the two streams.",
    },
]

# The tenant's selection policy (the SelectionPolicy message as JSON, what `wastesvc policy --set` takes),
# chosen on `make bench-policy`'s tuning seed (bench/NOTES.md): consolidation around mandatory visits,
# deferral of isolated containers, and each bring-bank stream swept on two fixed weekdays.
SELECTION_POLICY: Json = {
    "defaults": {
        "consolidationRadiusM": 600,
        "consolidationFactor": 3,
        "deferIsolated": True,
        "minFill": 0.7,
        "overflowRisk": 0.2,
    },
    "streamOverrides": [
        {"stream": f"WASTE_STREAM_{stream}", "parameters": {"sweepDays": {"days": days}}}
        for stream, days in (
            ("GLASS", ["TUESDAY", "FRIDAY"]),
            ("PAPER", ["WEDNESDAY", "SATURDAY"]),
            ("PACKAGING", ["MONDAY", "THURSDAY"]),
        )
    ],
}

PLANNING: Json = {
    "fill_threshold": 0.7,
    "max_days_without_emptying": {"residual": 7, "biowaste": 4, "packaging": 14, "glass": 14, "paper": 21},
    "solver_time_limit_s": 20,
    "selection_policy": SELECTION_POLICY,
}


# What each resident deposits per year, whatever the container (kg per inhabitant per year). Only residual
# waste has a regional figure; the three dry streams split ADEME's national 80 kg (assumed split).
DEPOSITS: list[Json] = [
    {
        "stream": "residual",
        "kg_per_inhabitant_year": 224,
        "status": "cited",
        "source": "Valor'Aisne departmental characterisation (ADEME OPTIGEDE): sanitary textiles are "
        "19 kg/hab./an = 8.5 % of residual waste, so 19 / 0.085 = 224 kg/hab./an. Cross-check: ADEME "
        "MODECOM 2017 national average 254 kg/hab./an",
        "urls": [URL_OPTIGEDE, URL_MODECOM],
    },
    {
        "stream": "glass",
        "kg_per_inhabitant_year": 30,
        "status": "assumed",
        "source": "share of the 80 kg/hab./an of separately collected glass, packaging and graphic paper "
        "(ADEME MODECOM 2017, national); the split between the three streams is assumed",
        "urls": [URL_MODECOM],
    },
    {
        "stream": "packaging",
        "kg_per_inhabitant_year": 28,
        "status": "assumed",
        "source": "as glass: assumed share of ADEME's national 80 kg/hab./an",
        "urls": [URL_MODECOM],
    },
    {
        "stream": "paper",
        "kg_per_inhabitant_year": 22,
        "status": "assumed",
        "source": "as glass: assumed share of ADEME's national 80 kg/hab./an",
        "urls": [URL_MODECOM],
    },
    {
        "stream": "biowaste",
        "kg_per_inhabitant_year": 25,
        "status": "assumed",
        "source": "per served inhabitant; ADEME MODECOM 2017 gives 19 kg/hab./an of separately collected "
        "biowaste averaged over all inhabitants, including those without such a collection",
        "urls": [URL_MODECOM],
    },
]

# Commune kinds: the town, its three urban neighbours with blocks of flats, small towns, villages.
TOWN, SUBURB, SMALL_TOWN, VILLAGE = "town", "suburb", "small_town", "village"
# Share of a commune's residents who use the sensor-equipped drop-off containers rather than door-to-door
# bins (not modelled). Glass, packaging and paper: bring banks for everyone. Residual and biowaste: residents
# of blocks of flats; Soissons' 35 % is informed by INSEE's share of flats, the others are assumed.
SERVED_SHARE: dict[str, dict[str, float]] = {
    TOWN: {"residual": 0.35, "biowaste": 0.35, "glass": 1.0, "packaging": 1.0, "paper": 1.0},
    SUBURB: {"residual": 0.16, "biowaste": 0.0, "glass": 1.0, "packaging": 1.0, "paper": 1.0},
    SMALL_TOWN: {"residual": 0.10, "biowaste": 0.0, "glass": 1.0, "packaging": 1.0, "paper": 1.0},
    VILLAGE: {"residual": 0.0, "biowaste": 0.0, "glass": 1.0, "packaging": 1.0, "paper": 1.0},
}
# Containers are sized so that a commune's containers of a stream fill in about this many days: residual and
# biowaste within their weekly and twice-weekly rounds, bring banks over weeks (assumed).
TARGET_DAYS_TO_FULL = {"residual": 6.0, "biowaste": 3.0, "packaging": 8.0, "paper": 16.0, "glass": 28.0}
_SIZING_ROUNDS = 8
PAV_STREAMS = ("glass", "paper", "packaging")
SERVICE_S = {"wheeled_bin": 60, "semi_buried": 240}
# Town centre of Soissons: market and traffic restrict stops to early morning (brief; illustrative).
CENTRE_RADIUS_KM = 0.5
CENTRE_WINDOW = {"start": "06:00", "end": "10:00"}

# Generic, illustrative labels: they are not geocoded and need not exist in the commune.
STREETS_SOISSONS = (
    "Rue de la République",
    "Avenue de Laon",
    "Avenue de Reims",
    "Avenue de Compiègne",
    "Boulevard Jeanne d'Arc",
    "Rue Saint-Martin",
    "Rue du Commerce",
    "Rue Pasteur",
    "Rue Jean Jaurès",
    "Rue Victor Hugo",
    "Rue du Général de Gaulle",
    "Rue des Écoles",
    "Allée des Tilleuls",
    "Place du Marché",
    "Rue de la Gare",
    "Quai de l'Aisne",
    "Rue du Stade",
    "Avenue de la Paix",
)
STREETS_TOWN = (
    "Rue de la République",
    "Rue Jean Jaurès",
    "Rue Pasteur",
    "Rue des Écoles",
    "Rue de l'Église",
    "Rue du Stade",
    "Allée des Tilleuls",
    "Avenue de la Gare",
    "Rue des Jardins",
    "Rue Victor Hugo",
)
STREETS_VILLAGE = (
    "Rue de l'Église",
    "Grande Rue",
    "Rue Principale",
    "Rue du Château",
    "Chemin du Moulin",
    "Rue des Jardins",
)
RESIDENCES = (
    "Résidence Les Tilleuls",
    "Résidence Le Parc",
    "Résidence Les Acacias",
    "Résidence Les Peupliers",
    "Résidence Le Mail",
    "Résidence Les Cèdres",
)


@dataclass(frozen=True, slots=True)
class _Commune:
    insee_code: str
    name: str
    population: int
    lat: float
    lng: float
    area_km2: float


@dataclass(frozen=True, slots=True)
class _Site:
    lat: float
    lng: float
    street: str
    in_centre: bool


def _read_communes(territory: Path, siren: str = GRANDSOISSONS_SIREN) -> list[_Commune]:
    with (territory / "communes.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["epci_siren"] == siren]
    return sorted(
        (
            _Commune(
                insee_code=row["insee_code"],
                name=row["name"],
                population=int(row["population"]),
                lat=float(row["latitude"]),
                lng=float(row["longitude"]),
                area_km2=float(row["area_km2"]),
            )
            for row in rows
        ),
        key=lambda c: c.insee_code,
    )


def _kind(commune: _Commune) -> str:
    if commune.insee_code == SOISSONS:
        return TOWN
    if commune.insee_code in URBAN:
        return SUBURB
    return SMALL_TOWN if commune.population >= 1000 else VILLAGE


def _daily_litres(commune: _Commune) -> dict[str, float]:
    """Litres of loose waste a day the served residents put in the commune's containers, per stream."""
    density = {str(s["id"]): _number(s["density_kg_per_l"]) for s in STREAMS}
    shares = SERVED_SHARE[_kind(commune)]
    return {
        str(d["stream"]): commune.population
        * shares[str(d["stream"])]
        * _number(d["kg_per_inhabitant_year"])
        / 365
        / density[str(d["stream"])]
        for d in DEPOSITS
    }


def _first_counts(commune: _Commune) -> dict[str, int]:
    """A first guess at the counts, with 1 m³ per container; `_sized` corrects it on the drawn models."""
    return {
        stream: max(1, round(litres * TARGET_DAYS_TO_FULL[stream] / 1000))
        for stream, litres in _daily_litres(commune).items()
        if litres > 0
    }


def _site_sampler(commune: _Commune, rng: random.Random) -> _Site:
    # Villages are compact around their town hall, so the spread shrinks below 1000 inhabitants.
    sigma_km = math.sqrt(commune.area_km2) / 3 * (1.0 if commune.population >= 1000 else 0.5)
    while True:
        dx, dy = rng.gauss(0.0, sigma_km), rng.gauss(0.0, sigma_km)
        if math.hypot(dx, dy) <= 2 * sigma_km:
            break
    lat = commune.lat + dy / KM_PER_DEG_LAT
    lng = commune.lng + dx / (KM_PER_DEG_LAT * math.cos(math.radians(commune.lat)))
    if commune.insee_code == SOISSONS:
        streets: Sequence[str] = STREETS_SOISSONS
    elif commune.population >= 1000:
        streets = STREETS_TOWN
    else:
        streets = STREETS_VILLAGE
    in_centre = math.hypot(dx, dy) <= CENTRE_RADIUS_KM
    street = "Place de la Mairie" if math.hypot(dx, dy) < 0.15 else rng.choice(streets)
    return _Site(round(lat, 6), round(lng, 6), street, in_centre)


def _isle_groups(counts: dict[str, int], urban: bool, rng: random.Random) -> list[list[str]]:
    """Stream lists of the drop-off isles; the streams left over become standalone containers."""
    remaining = dict(counts)
    groups: list[list[str]] = []
    while True:
        members = [s for s in PAV_STREAMS if remaining.get(s, 0) > 0]
        if not members:
            break
        if len(members) == 1:
            # Leftover columns of one stream stand in pairs (supermarket car parks) or alone.
            stream = members[0]
            size = min(remaining[stream], 2 if rng.random() < 0.6 else 1)
            group = [stream] * size
        else:
            if len(members) == 3 and rng.random() < 0.25:
                members.remove(rng.choice(members[1:]))
            group = list(members)
            if urban and remaining.get("residual", 0) > 0 and rng.random() < 0.5:
                group.append("residual")
            elif remaining.get("biowaste", 0) > 0 and rng.random() < 0.3:
                group.append("biowaste")
        for stream in group:
            remaining[stream] -= 1
        groups.append(group)
    for stream in ("residual", "biowaste"):
        groups.extend([stream] for _ in range(remaining.get(stream, 0)))
    return groups


def _model_for(stream: str, in_isle: bool, urban: bool, rng: random.Random) -> str:
    if stream == "glass":
        return "pav-3m3" if rng.random() < 0.7 else "pav-4m3"
    if stream == "paper":
        return "pav-4m3" if rng.random() < 0.6 else "pav-3m3"
    if stream == "packaging":
        return "pav-4m3"
    if stream == "biowaste":
        return "bin-240"
    if in_isle or (urban and rng.random() < 0.35):
        return "semi-buried-5m3"
    draw = rng.random()
    return "bin-660" if draw < 0.45 else "bin-770" if draw < 0.8 else "bin-1100"


def _service_s(stream: str, kind: str, rng: random.Random) -> int:
    if kind == "aboveground_column":
        # Glass columns are heavier and slower to tip back cleanly than paper or packaging.
        return 240 if stream == "glass" else rng.choice((180, 200, 210))
    return SERVICE_S[kind]


def _sized(commune: _Commune) -> tuple[list[Json], list[Json]]:
    """The commune's isles and containers, counted so each stream fills in about its target days.

    The models are drawn at random, so the counts are corrected on the drawn volumes until they settle; each
    container then gets the stream's daily litres over the commune's volume of that stream as its fill rate
    (deposits spread over the containers in proportion to their volume).
    """
    daily = _daily_litres(commune)
    counts = _first_counts(commune)
    for _ in range(_SIZING_ROUNDS):
        isles, containers = _commune_containers(commune, counts)
        volume = _volume_per_stream(containers)
        settled = {
            s: max(1, round(n * TARGET_DAYS_TO_FULL[s] * daily[s] / volume[s])) for s, n in counts.items()
        }
        if settled == counts:
            break
        counts = settled
    volume = _volume_per_stream(containers)
    for container in containers:
        stream = str(container["stream"])
        container["fill_rate_per_day"] = round(daily[stream] / volume[stream], 5)
    return isles, containers


def _volume_per_stream(containers: Sequence[Json]) -> dict[str, float]:
    volume: dict[str, float] = {}
    for container in containers:
        stream = str(container["stream"])
        volume[stream] = volume.get(stream, 0.0) + _number(container["volume_l"])
    return volume


def _commune_containers(commune: _Commune, counts: Mapping[str, int]) -> tuple[list[Json], list[Json]]:
    rng = random.Random(f"{SEED}:{commune.insee_code}")
    urban = commune.insee_code in URBAN
    models = {str(m["id"]): m for m in CONTAINER_MODELS}
    isles: list[Json] = []
    containers: list[Json] = []
    for group in _isle_groups(dict(counts), urban, rng):
        site = _site_sampler(commune, rng)
        is_isle = len(group) > 1
        isle_id = f"ISLE-{commune.insee_code}-{len(isles) + 1:03d}" if is_isle else None
        member_ids: list[str] = []
        for stream in group:
            model = models[_model_for(stream, is_isle, urban, rng)]
            container_id = f"GS-{commune.insee_code}-{len(containers) + 1:04d}"
            member_ids.append(container_id)
            # Ultrasonic sensors on columns and semi-buried containers often send raw distance; bin sensors
            # here come through a vendor platform that already reports fill.
            reports_distance = model["kind"] != "wheeled_bin" and rng.random() < 0.6
            restricted = commune.insee_code == SOISSONS and site.in_centre
            # A lone semi-buried container serves a block of flats, so it is labelled by the residence.
            lone_semi_buried = model["kind"] == "semi_buried" and not is_isle
            containers.append(
                {
                    "id": container_id,
                    "insee_code": commune.insee_code,
                    "commune": commune.name,
                    "street": rng.choice(RESIDENCES) if lone_semi_buried else site.street,
                    "lat": site.lat,
                    "lng": site.lng,
                    "stream": stream,
                    "model_id": model["id"],
                    "volume_l": model["volume_l"],
                    # Set by _sized once the commune's volumes are drawn.
                    "fill_rate_per_day": 0.0,
                    "isle_id": isle_id,
                    "service_s": _service_s(stream, str(model["kind"]), rng),
                    "access_windows": [CENTRE_WINDOW] if restricted else [],
                    "sensor": {
                        "id": f"{rng.getrandbits(64):016X}",
                        "reports": "distance" if reports_distance else "fill",
                    },
                }
            )
        if isle_id is not None:
            isles.append(
                {
                    "id": isle_id,
                    "insee_code": commune.insee_code,
                    "street": site.street,
                    "lat": site.lat,
                    "lng": site.lng,
                    "container_ids": member_ids,
                }
            )
    return isles, containers


def _number(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def _compartment(raw: object, compaction: Mapping[object, float]) -> Json:
    """A compartment with capacity_l = its body x the smallest compaction among its streams."""
    if not isinstance(raw, dict) or not isinstance(raw.get("streams"), list):
        raise TypeError(f"a compartment needs a list of streams, got {raw!r}")
    factor = min(compaction[str(s)] for s in raw["streams"])
    return {**raw, "capacity_l": round(_number(raw["body_l"]) * factor)}


def _vehicles(fleet: Sequence[Json]) -> list[Json]:
    """`fleet` with capacity_l = body x the smallest compaction among its streams, valid for any trip."""
    compaction = {stream["id"]: _number(stream["truck_compaction"]) for stream in STREAMS}
    vehicles: list[Json] = []
    for vehicle in fleet:
        streams = vehicle["streams"]
        if not isinstance(streams, list):
            raise TypeError(f"{vehicle['id']}: streams must be a list")
        factor = min(compaction[stream] for stream in streams)
        record: Json = {}
        for key, value in vehicle.items():
            record[key] = value
            if key == "body_l":
                record["capacity_l"] = round(_number(value) * factor)
        compartments = vehicle.get("compartments")
        if isinstance(compartments, list):
            # Each compartment compacts its own streams; the body holds what its compartments hold.
            parts = [_compartment(c, compaction) for c in compartments]
            record["compartments"] = parts
            record["capacity_l"] = sum(round(_number(c["capacity_l"])) for c in parts)
        vehicles.append(record)
    return vehicles


def _streams(containers: Sequence[Json]) -> list[Json]:
    """`STREAMS` with each mean fill rate replaced by its containers' mean (the forecasts' cold start)."""
    streams: list[Json] = []
    for stream in STREAMS:
        rates = [_number(c["fill_rate_per_day"]) for c in containers if c["stream"] == stream["id"]]
        streams.append({**stream, "mean_fill_rate_per_day": round(sum(rates) / len(rates), 4)})
    return streams


def build(territory: Path) -> Json:
    """The whole scenario document, from ``territory/communes.csv`` and the constants of this module."""
    communes = _read_communes(territory)
    isles: list[Json] = []
    containers: list[Json] = []
    for commune in communes:
        commune_isles, commune_containers = _sized(commune)
        isles.extend(commune_isles)
        containers.extend(commune_containers)
    return {
        "schema_version": 1,
        "name": "GrandSoissons Agglomération — default scenario",
        "timezone": "Europe/Paris",
        "generated_by": "python -m wastesvc.scenario._build data/territory",
        "seed": SEED,
        "attribution": ATTRIBUTION,
        "sources": SOURCES,
        "communes": [
            {
                "insee_code": c.insee_code,
                "name": c.name,
                "population": c.population,
                "lat": c.lat,
                "lng": c.lng,
                "area_km2": c.area_km2,
                "kind": _kind(c),
                "served_share": SERVED_SHARE[_kind(c)],
            }
            for c in communes
        ],
        "deposits": DEPOSITS,
        "streams": _streams(containers),
        "container_models": CONTAINER_MODELS,
        "depot": DEPOT,
        "facilities": FACILITIES,
        "vehicles": _vehicles(VEHICLES),
        "planning": PLANNING,
        "isles": isles,
        "containers": containers,
    }


def render(document: Json) -> str:
    """JSON text with one record per line in the lists, so diffs of the data stay readable."""
    parts: list[str] = []
    for key, value in document.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            records = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value)
            text = "[\n" + records + "\n  ]"
        else:
            text = json.dumps(value, ensure_ascii=False)
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("territory", type=Path, help="folder holding communes.csv")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUTPUT, help="output JSON file (the rural one goes beside it)"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.write_text(render(build(args.territory)), encoding="utf-8")
    # The rural tenant's generator imports this module's helpers; importing it at the top would be a cycle.
    from wastesvc.scenario import _rural  # noqa: PLC0415

    out.with_name(_rural.OUTPUT.name).write_text(render(_rural.build(args.territory)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
