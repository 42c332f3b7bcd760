"""W3C Data Integrity proofs over RFC 8785 JSON: `eddsa-jcs-2022` (Ed25519), and the same
construction with SM2/SM3 under the name `sm2-jcs-tongban` (no W3C suite exists for SM2).

hashData = SHA-256(JCS(proof options)) ‖ SHA-256(JCS(document without proof)); the signature over
it is the proof's `proofValue`, multibase base58-btc (`z…`). The options carry the document's
`@context`, `created` and `verificationMethod` (`<base>/keys#<kid>`), so none can be swapped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from tongban.credentials.signing import algorithms, keystore

CRYPTOSUITE = {"Ed25519": "eddsa-jcs-2022", "SM2": "sm2-jcs-tongban"}


def _hash_data(options: dict[str, Any], document: dict[str, Any]) -> bytes:
    return (hashlib.sha256(algorithms.canonical(options)).digest()
            + hashlib.sha256(algorithms.canonical(document)).digest())


def add_proof(document: dict[str, Any], kid: str, algorithm: str, verification_method: str,
              created: str) -> dict[str, Any]:
    """`document` with a Data Integrity proof signed by the key store's key `kid`."""
    options = {"type": "DataIntegrityProof", "cryptosuite": CRYPTOSUITE[algorithm], "created": created,
               "verificationMethod": verification_method, "proofPurpose": "assertionMethod"}
    if "@context" in document:
        options["@context"] = document["@context"]
    signature = keystore.current().sign(kid, algorithm, _hash_data(options, document))
    return {**document, "proof": {**options, "proofValue": "z" + algorithms.b58encode(signature)}}


def check_proof(secured: dict[str, Any], public_key: Callable[[str], tuple[str, bytes] | None]) -> bool:
    """Is the document's proof good? `public_key(kid)` gives (algorithm, raw key) or None."""
    proof = secured.get("proof")
    if not isinstance(proof, dict) or not isinstance(proof.get("proofValue"), str):
        return False
    method = str(proof.get("verificationMethod", ""))
    key = public_key(method.rpartition("#")[2]) if "#" in method else None
    if key is None or proof.get("cryptosuite") != CRYPTOSUITE.get(key[0]) or not proof["proofValue"].startswith("z"):
        return False
    try:
        signature = algorithms.b58decode(proof["proofValue"][1:])
    except ValueError:
        return False
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    document = {k: v for k, v in secured.items() if k != "proof"}
    return algorithms.verify(key[0], key[1], _hash_data(options, document), signature)
