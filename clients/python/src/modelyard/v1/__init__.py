"""Generated from protos/modelyard/v1 by `make protos`. Do not edit."""
