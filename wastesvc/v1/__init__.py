"""Generated gRPC/protobuf code for wastesvc.v1 (produced by `make proto`, not committed)."""
