"""Reading aioimaplib's responses: SELECT, UID SEARCH, UID FETCH with literals, IDLE pushes."""

from __future__ import annotations

from datetime import UTC, datetime

from pot_ingester.imapparse import exists_pushed, fetched, search_uids, uidnext, uidvalidity


def test_select_gives_uidvalidity_and_uidnext() -> None:
    lines = [
        b"FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"3 EXISTS",
        b"0 RECENT",
        b"OK [UIDVALIDITY 1764500000] UIDs valid",
        b"OK [UIDNEXT 4] Predicted next UID",
        b"[READ-WRITE] Select completed (0.001 + 0.000 secs).",
    ]
    assert uidvalidity(lines) == 1764500000
    assert uidnext(lines) == 4
    assert uidvalidity([b"OK done"]) is None


def test_search_uids_are_sorted_and_only_numbers() -> None:
    assert search_uids([b"SEARCH 9 4 5", b"Search completed (0.001 secs)."]) == [4, 5, 9]
    assert search_uids([b"SEARCH", b"Search completed"]) == []
    # as aioimaplib gives it
    assert search_uids([b"4 12", b"Search completed (0.001 + 0.000 secs)."]) == [4, 12]


def test_fetch_reads_each_literal_with_its_uid_and_date() -> None:
    one, two = b"Subject: one\r\n\r\nbody\r\n", b"Subject: two\r\n\r\n"
    lines = [
        b'1 FETCH (UID 7 INTERNALDATE "30-Nov-2026 13:00:05 +0000" BODY[]<0> {%d}' % len(one),
        bytearray(one),
        b")",
        b"2 FETCH (FLAGS (\\Seen))",  # another client's flag change, no body
        b'3 FETCH (INTERNALDATE "30-Nov-2026 14:00:00 +0100" BODY[]<0> {%d}' % len(two),
        bytearray(two),
        b" UID 9)",  # items after the literal
        b"Fetch completed (0.001 + 0.000 secs).",
    ]
    got = fetched(lines)  # type: ignore[arg-type]
    assert [(m.uid, m.raw) for m in got] == [(7, one), (9, two)]
    assert got[0].arrived == datetime(2026, 11, 30, 13, 0, 5, tzinfo=UTC)
    assert got[1].arrived == datetime(2026, 11, 30, 13, 0, 0, tzinfo=UTC)


def test_idle_pushes_that_mean_new_mail() -> None:
    assert exists_pushed([b"4 EXISTS"])
    assert exists_pushed([b"1 RECENT"])
    assert not exists_pushed([b"3 EXPUNGE"])
    assert not exists_pushed([b"OK Still here"])
