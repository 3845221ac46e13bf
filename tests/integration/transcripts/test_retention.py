"""Retention is the bucket's lifecycle rules, set per tenant or pool with `potctl transcripts retention`,
and the store removes what is past it: in the stack's SeaweedFS a lifecycle day lasts 10 seconds, so a
one-day rule on one tenant empties its folder within a minute while another tenant's stays.
"""

from __future__ import annotations

import io

from pot_stack.s3_server import LIFECYCLE_DAY_SECONDS, S3Server

from .conftest import potctl


def put(store: S3Server, key: str) -> None:
    store.client().put_object(store.bucket, key, io.BytesIO(b"x"), 1)


def test_a_tenant_rule_removes_its_transcripts_past_retention_and_only_them(store: S3Server) -> None:
    env = store.env()
    put(store, "acme/outreach/2026-03-02/100000-100001-1-2-w-000001.jsonl.gz")
    put(store, "acme/other/2026-03-02/100000-100001-3-4-w-000001.jsonl.gz")
    put(store, "beta/outreach/2026-03-02/100000-100001-5-6-w-000001.jsonl.gz")

    done = potctl("transcripts", "retention", "acme", "--days", "1", env=env)
    assert done.returncode == 0, done.stderr
    longer = potctl("transcripts", "retention", "beta/outreach", "--days", "30", env=env)
    assert longer.returncode == 0, longer.stderr
    listed = potctl("transcripts", "retention", env=env).stdout.splitlines()
    assert listed == [
        "acme/ 1 day (rule pot-retention-acme)",
        "beta/outreach/ 30 days (rule pot-retention-beta.outreach)",
    ]

    # Gone once older than a (10-second) day and the lifecycle worker has run; beta's rule is longer.
    took = store.wait_gone("acme/", timeout=12 * LIFECYCLE_DAY_SECONDS)
    assert took < 12 * LIFECYCLE_DAY_SECONDS
    assert list(store.objects()) == ["beta/outreach/2026-03-02/100000-100001-5-6-w-000001.jsonl.gz"]

    removed = potctl("transcripts", "retention", "acme", "--remove", env=env)
    assert removed.returncode == 0 and removed.stdout.splitlines() == [listed[1]]


def test_retention_inputs_are_checked_before_the_store_is_asked(store: S3Server) -> None:
    env = store.env()
    for args, says in [
        (("acme", "--days", "0"), "--days"),
        (("acme",), "either --days N or --remove"),
        (("--days", "3"), "need a TENANT"),
        (("Not_A_Namespace", "--days", "3"), "TENANT"),
        (("a.b", "--days", "3"), "not a namespace name"),
        (("acme/Bad_Pool", "--days", "3"), "POOL"),
    ]:
        done = potctl("transcripts", "retention", *args, env=env)
        assert done.returncode == 2 and says in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    wrong = potctl("transcripts", "retention", env={**env, "POT_TRANSCRIPTS_SECRET_KEY": "wrong"})
    assert wrong.returncode == 2 and "refused it: SignatureDoesNotMatch" in wrong.stderr, wrong.stderr
