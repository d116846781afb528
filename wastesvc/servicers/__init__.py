"""gRPC servicers: validate requests, call the domain and storage, map errors to google.rpc.Status."""

__all__: list[str] = []
