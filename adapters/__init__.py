"""Bridges between the city's systems and wastesvc; each runs as its own process.

An adapter talks to the service only through the generated gRPC stubs (``wastesvc.v1``).
"""
