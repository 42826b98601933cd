"""Checks a simgate verification proof with PyJWT alone, from the JWKS URL (no simgate code).

Usage: check_proof.py JWKS_URL TOKEN AUDIENCE ISSUER LIFETIME_SECS
Prints one JSON object: the claims, and how PyJWT judged a wrong audience, an expired proof and
a tampered payload ("rejected" expected for each).
"""

import base64
import json
import sys

import jwt

jwks_url, token, audience, issuer, lifetime = sys.argv[1:6]
client = jwt.PyJWKClient(jwks_url)
key = client.get_signing_key_from_jwt(token).key
out = {"header": jwt.get_unverified_header(token)}
out["claims"] = jwt.decode(
    token, key, algorithms=["EdDSA"], audience=audience, issuer=issuer,
    options={"require": ["exp", "iat", "iss", "sub", "aud"]},
)


def judged(**kwargs):
    try:
        jwt.decode(token if "token" not in kwargs else kwargs.pop("token"), key,
                   algorithms=["EdDSA"], issuer=issuer, **kwargs)
        return "accepted"
    except jwt.InvalidAudienceError:
        return "rejected"
    except jwt.ExpiredSignatureError:
        return "rejected"
    except jwt.InvalidSignatureError:
        return "rejected"


out["wrong_audience"] = judged(audience="another-app")
# A negative leeway moves PyJWT's clock forward: past the proof's lifetime it has expired.
# (PyJWT also checks iat against the moved clock; only expiry is asked about here.)
out["expired"] = judged(audience=audience, leeway=-(int(lifetime) + 60),
                        options={"verify_iat": False})
header, payload, signature = token.split(".")
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
claims["sub"] = "+19995550000"
forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
out["tampered"] = judged(audience=audience, token=f"{header}.{forged}.{signature}")
print(json.dumps(out))
