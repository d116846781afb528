"""What the API and the repository promise beyond one RPC: names the service owns, no outside paths."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from google.api import resource_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor

import wastesvc.v1
from wastesvc.errors import DOMAIN

ROOT = Path(__file__).resolve().parents[1]


def _files() -> list[FileDescriptor]:
    """The file descriptors of every generated wastesvc.v1 module."""
    return [
        importlib.import_module(f"wastesvc.v1.{module.name}").DESCRIPTOR
        for module in pkgutil.iter_modules(wastesvc.v1.__path__)
        if module.name.endswith("_pb2")
    ]


def _messages(messages: list[Descriptor]) -> Iterator[Descriptor]:
    for message in messages:
        yield message
        yield from _messages(list(message.nested_types))


def test_error_domain_is_the_services_own() -> None:
    """ErrorInfo.domain is the service's domain, not googleapis.com (clients match reasons within it)."""
    assert DOMAIN == "wastesvc.fr"


def test_every_resource_type_is_under_the_services_domain() -> None:
    """Every google.api.resource type, resource_definition and resource_reference of the API is a
    `wastesvc.fr/` type, and every reference names a type the API defines."""
    defined: dict[str, str] = {}
    referenced: dict[str, str] = {}
    for file in _files():
        for definition in file.GetOptions().Extensions[resource_pb2.resource_definition]:
            defined[definition.type] = file.name
        for message in _messages(list(file.message_types_by_name.values())):
            if message.GetOptions().HasExtension(resource_pb2.resource):
                defined[message.GetOptions().Extensions[resource_pb2.resource].type] = message.full_name
            for field in message.fields:
                if field.GetOptions().HasExtension(resource_pb2.resource_reference):
                    reference = field.GetOptions().Extensions[resource_pb2.resource_reference]
                    referenced[reference.type or reference.child_type] = field.full_name

    assert len(defined) >= 10, defined  # the walk found the API's resources
    assert {t: where for t, where in defined.items() if not t.startswith("wastesvc.fr/")} == {}
    assert {t: where for t, where in referenced.items() if t not in defined} == {}


# The sibling reference checkout's paths, spelled in parts so that this file does not name them itself.
_REFERENCE = b"shared"
_OUTSIDE = (b"../" + _REFERENCE, b"/" + _REFERENCE + b"/")


def test_no_tracked_file_points_outside_the_repository() -> None:
    """The repository builds and tests on its own: no tracked file names a path into the sibling reference
    checkout (data once taken from it lives in data/, with its sources in data/README.md)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    paths = [p.decode() for p in listed if p]
    assert len(paths) > 100  # the listing worked

    mentioning = [
        path
        for path in paths
        if (ROOT / path).is_file() and any(outside in (ROOT / path).read_bytes() for outside in _OUTSIDE)
    ]

    assert mentioning == []
