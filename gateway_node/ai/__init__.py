"""The node's AI gateway: provider adapters (unified OpenAI chat ↔ each wire format), SSE and
NDJSON framing, token pricing, and a fake provider speaking all four wire formats.

docs/ai-gateway.md is the contract; nothing here imports Django.
"""
