"""The shared foundation: errors, crypto, env, outbound-URL policy, outbox, API error shape.

It imports no app of this project; every app may import it.
"""
