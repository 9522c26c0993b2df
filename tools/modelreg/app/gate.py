"""``modelreg gate``: may this environment run this model now? For deploy pipelines.

Passes only when every condition holds; otherwise it lists every reason. It never passes
on an error: a condition it cannot evaluate is a reason.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from modelreg.core.errors import ModelregError
from modelreg.core.files import hash_file
from modelreg.core.stages import requested_stages
from modelreg.policy.evaluate import evaluate
from modelreg.policy.integrity import NOT_IN_REMOTE, UNSIGNED_TAG, verify
from modelreg.policy.rescan import Rescan, rescan_file
from modelreg.policy.reviews import reached_without_review, review_at_merge, vouched
from modelreg.store.protected import protected_branch, protected_ref
from modelreg.store.registry import MODELS_DIR, Registry, check_name
from modelreg.store.signatures import fact_for
from modelreg.store.tagsign import UNSIGNED_NOTE, signature_verdicts


@dataclass
class GateResult:
    ok: bool
    model: str
    stage: str
    version: str | None = None
    tag: str | None = None
    commit: str | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    signer: str | None = None          # the allowed signer who signed the stage tag
    notes: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)   # from the reviews, never free text

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "model": self.model, "stage": self.stage,
                "version": self.version, "tag": self.tag, "commit": self.commit,
                "approvers": self.approvers,
                "pull_request": self.evidence.get("pr"),
                "policy_digest": self.evidence.get("policy_digest"),
                "signer": self.signer, "notes": self.notes,
                "artifacts": self.artifacts, "reasons": self.reasons}


def _integrity(registry: Registry, result: GateResult, record: dict | None, at: str,
               artifact: str | None, digest: str | None) -> None:
    """Tamper detection for the gated model (modelreg verify: records, tags, stages.yaml,
    the weights of this version that are here or in a local DVC remote; every tag of the
    model) and its weights signature.

    Weights with no good copy anywhere the gate can see (LOST: not in a local remote, the
    cache or the work tree) are a reason: the deploy job's ``dvc pull`` could only fail.
    A remote that lacks weights of which a good copy is here (NOT_IN_REMOTE) is not: what
    this deploy runs is here and hashes right; ``verify`` reports the remote. A remote that
    is not a local folder is not contacted: the deploy job's ``dvc pull`` asks it."""
    name, version, reasons = result.model, result.version or "", result.reasons
    try:
        report = verify(registry, [name], versions={name: [version]})
        for f in report.findings:
            if f.rule == UNSIGNED_TAG and f.file == f"refs/tags/{result.tag}":
                continue                  # the stage tag's signature: said once, above
            if f.rule != NOT_IN_REMOTE:
                reasons.append(f"verify: {f}")
    except ModelregError as exc:
        reasons.append(f"tamper detection could not run: {exc}")
    if record is None:
        return
    vdir = registry.model_dir(name) / "versions" / version
    here = bool(result.artifacts) and all(
        (vdir / str(a.get("path", "")).rsplit("/", 1)[-1]).is_file() for a in result.artifacts)
    try:
        with registry.at(at) as approved:
            fact = fact_for(approved, name, version, record, judge=registry, weights=here)
    except ModelregError as exc:
        reasons.append(f"the weights signature could not be checked: {exc}")
        return
    if fact.present and not fact.verified:
        reasons.append("signature: " + "; ".join(fact.reasons or ["it does not verify"]))
    if fact.verified and digest is not None:
        if digest not in fact.digests.values():
            reasons.append(f"artifact {artifact} is not among the signed files of "
                           f"{name} {version}")


def _signature(registry: Registry, result: GateResult, tag_object: str) -> None:
    """Who signed the stage tag; a reason when no allowed signer did and the registry
    requires signed tags."""
    try:
        signing = registry.tag_signing()
        verdict = signature_verdicts(registry, [tag_object], signing=signing).get(tag_object)
    except ModelregError as exc:
        result.reasons.append(f"the signature of tag {result.tag} could not be checked: {exc}")
        return
    if verdict is not None and verdict.valid:
        result.signer = verdict.signer
    elif not signing.required:
        result.notes.append(UNSIGNED_NOTE)
    else:
        why = verdict.reason if verdict is not None else "it was not found"
        result.reasons.append(f"tag {result.tag} is not signed by an allowed signer: {why}")


def _rescan(artifact: str, artifacts: list[dict[str, Any]]) -> Rescan:
    """Hash and scan the file handed to the gate. When it is a registered artifact saved
    under another name (``weights`` for ``model.safetensors``), it is scanned as the format
    its registered name promises."""
    digest = hash_file(artifact).sha256
    names = [str(a.get("path") or "").rsplit("/", 1)[-1] for a in artifacts
             if a.get("sha256") == digest]
    name = names[0] if names and names[0] not in ("", ".", "..") \
        else os.path.basename(artifact)
    if os.path.splitext(name)[1].lower() == os.path.splitext(artifact)[1].lower():
        return rescan_file(artifact, name, sha256=digest)
    with tempfile.TemporaryDirectory(prefix="modelreg-gate-") as tmp:
        alias = os.path.join(tmp, name)
        os.symlink(os.path.abspath(artifact), alias)
        return rescan_file(alias, name, sha256=digest)


def _out_of_sync(registry: Registry, name: str, stage: str, version: str) -> str | None:
    """Why the protected branch today does not ask for ``version`` in ``stage`` (a stage tag
    deleted, a promotion merged but not yet reconciled), or None when it does."""
    try:
        ref = protected_ref(registry.git, protected_branch(registry))
        with registry.at(ref) as main:
            data = main.stages_file(name)
    except ModelregError as exc:
        return f"what the protected branch asks for could not be read: {exc}"
    wanted = requested_stages(data)[0].get(stage)
    if wanted == version:
        return None
    return (f"stage is out of sync: main asks for {wanted or 'no version'} in {stage}, the "
            f"tags say {version} (`modelreg reconcile` records what was merged)")


def gate(registry: Registry, name: str, stage: str, *, artifact: str | None = None,
         engine: str = "auto", now: Any = None) -> GateResult:
    check_name(name)
    result = GateResult(False, name, stage)
    reasons = result.reasons
    git = registry.git
    state = registry.state(name)           # trusted tags only (store/trust.py)
    version = state.stages.get(stage)
    if version is None:
        reasons.append(f"no version of {name} holds {stage} (no active {name}#{stage}#N tag)")
        for v in registry.untrusted(name):
            reasons.append(f"tag {v.tag} does not count: {'; '.join(v.reasons)}")
        return result
    result.version = version
    ev = state.assignment(stage, version)
    if ev is None:                                   # pragma: no cover - state implies one
        reasons.append(f"no assignment tag found for {name} {version} in {stage}")
        return result
    result.tag, result.commit = ev.tag, ev.commit
    verdict = registry.trust.get(ev.tag) if registry.trust is not None else None
    evidence = ev.evidence
    result.evidence = evidence
    _signature(registry, result, ev.object)
    merge = verdict.merge if verdict is not None else None
    if verdict is None or not verdict.trusted or merge is None:
        reasons.append(f"tag {ev.tag} is not bound to the protected branch")
    elif verdict.unreviewed or reached_without_review(evidence):
        # a direct push records no review: a later reviewed pull request that changes the
        # stage's entry records it again (docs/guide.md, "Changes that skip review")
        reasons.append(f"tag {ev.tag}: {name} {version} reached "
                       f"{protected_branch(registry)} without a reviewed pull request")
    if not str(evidence.get("tool", "")).startswith("modelreg") or (
            evidence.get("event") != "assign" or str(evidence.get("version")) != version
            or evidence.get("stage") != stage or evidence.get("merge_commit") != merge):
        reasons.append(f"tag {ev.tag}'s evidence does not describe {name} {version} in "
                       f"{stage}, merged by {(merge or 'no commit')[:12]}")
    if state.deprecated or version not in state.registered:
        reasons.append(f"{name} {version} is deprecated or deregistered")
    if problem := _out_of_sync(registry, name, stage, version):
        reasons.append(problem)
    # the record as it was approved, checked against today's policies
    at = merge or ev.commit
    record = None
    try:
        # the monitoring records as the protected branch holds them today: what production
        # traffic showed since the approval counts, and only through reviewed merges
        with registry.at(at) as approved, \
                registry.at(protected_ref(git, protected_branch(registry))) as today:
            review = review_at_merge(git, evidence if merge else {}, at, approved.config)
            result.approvers = vouched(review)
            verdict_ = evaluate(approved, [name], judge=registry, stage=stage,
                                versions={name: [version]}, states={name: state},
                                review=review, engine=engine, now=now, watch=today)
            if approved.is_file(f"{MODELS_DIR}/{name}/versions/{version}.yaml"):
                record = approved.version(name, version).data
            # a retirement counts from the moment the protected branch holds it, reviewed or
            # not: it only ever stops a deployment (OPS-04)
            if today.has_model(name) and \
                    (retired := today.model(name).data.get("retirement")) is not None:
                when = retired.get("date") if isinstance(retired, dict) else None
                reasons.append(f"{name} is retired" + (f" since {when}" if when else "")
                               + f" ({protected_branch(registry)}'s model.yaml, OPS-04): a "
                               "retired model is not deployed")
        for f in verdict_.findings:
            if f.severity == "error":
                reasons.append(f"policy: {f}")
    except ModelregError as exc:
        reasons.append(f"the {stage} policies could not be evaluated: {exc}")
    if record is None:
        reasons.append(f"no version record for {name} {version} at {at[:12]}")
    else:
        for art in record.get("artifacts") or []:
            result.artifacts.append({k: art.get(k) for k in
                                     ("path", "format", "size", "sha256", "md5", "dvc_file",
                                      "remote")})
    # the artifact is hashed once, for both the record and the signature, and scanned
    # again: the scan in the record is not taken on trust (ART-05)
    rescan = _rescan(artifact, result.artifacts) \
        if artifact is not None and os.path.isfile(artifact) else None
    digest = rescan.sha256 if rescan is not None else None
    if rescan is not None and not rescan.passes:
        reasons.append(f"artifact {artifact}: scanning it gives {rescan.summary()}: "
                       "do not load it")
    _integrity(registry, result, record, at, artifact, digest)
    if artifact is not None:
        if digest is None:
            reasons.append(f"artifact {artifact} does not exist")
        elif digest not in {a.get("sha256") for a in result.artifacts}:
            reasons.append(f"artifact {artifact} has sha256 {digest}, which is not a "
                           f"registered artifact of {name} {version}")
    result.ok = not reasons
    return result
