"""The lighting adapter's three jobs: poll the gateway, store a pushed log report, light a night round."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from adapters.service_client import Wastesvc
from adapters.talq.client import TalqClient
from adapters.talq.lighting import LightingSettings, PlannedOverride, luminaires, plan_overrides
from adapters.talq.observations import AttributeValue, from_devices, from_log_report, to_observation

__all__ = ["Lit", "light_round", "poll", "store_values"]

_log = logging.getLogger("adapters.talq")


async def store_values(
    values: Iterable[AttributeValue], service: Wastesvc, source: str, containers: Mapping[str, str]
) -> Counter[str]:
    """Store attribute values as observations; how many were stored, duplicate or rejected."""
    observations = [to_observation(value, source, containers) for value in values]
    outcomes = await service.store_observations(observations) if observations else []
    for observation, outcome in zip(observations, outcomes, strict=True):
        if outcome.outcome == "rejected":
            _log.warning(
                "observation %s/%s of %s refused: %s",
                observation.entity_type, observation.property, observation.entity_id, outcome.reason,
            )  # fmt: skip
    return Counter(outcome.outcome for outcome in outcomes)


async def poll(
    client: TalqClient, service: Wastesvc, source: str, containers: Mapping[str, str], loggers: Iterable[str]
) -> Counter[str]:
    """Read ``/devices`` and each logger's report once and store what they observed."""
    values = list(from_devices(await client.devices()))
    for logger in loggers:
        values += from_log_report(await client.log_report(logger))
    return await store_values(values, service, source, containers)


@dataclass(frozen=True, slots=True)
class Lit:
    """An override of a round and what became of it: the gateway's status, or ``None`` in dry run."""

    override: PlannedOverride
    status: int | None


async def light_round(
    client: TalqClient, service: Wastesvc, day: date, settings: LightingSettings
) -> list[Lit]:
    """Light the night stops of the newest published plan of ``day``; send or log each override."""
    plans = await service.plans_of(day)
    if not plans:
        _log.info("no published plan for %s: nothing to light", day)
        return []
    plan = plans[0]
    lamps = luminaires(await client.devices())
    overrides = plan_overrides(plan, await service.containers(), lamps, settings)
    done = []
    for override in overrides:
        command = override.command(settings.level, plan.name)
        if override.dry_run:
            _log.info("dry run (commune %s): would send %s", override.commune, json.dumps(command))
            done.append(Lit(override, None))
        else:
            done.append(Lit(override, await client.override(command)))
    _log.info(
        "%s: %d override(s) for %d luminaire slot(s)",
        plan.name,
        len(done),
        sum(len(o.addresses) for o in overrides),
    )
    return done
