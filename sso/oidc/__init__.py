"""allauth's OpenID Connect provider, with the ID token's signature always checked."""
