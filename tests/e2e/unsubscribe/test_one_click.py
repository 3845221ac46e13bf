"""An unsubscribe POST suppresses (issue 13): a campaign sends, the List-Unsubscribe link is taken from
a message in the sink and POSTed with `List-Unsubscribe=One-Click` as a mail client does, and the next
campaign in the same namespace never mails that address while it mails the others."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from pot_stack.e2e import wait_for

from .conftest import World, campaign, mailbox, pool

# The links' public host; an Ingress with TLS would route it to the endpoint (the Campaign API takes
# only https:// links), so the test sends each link's path to the endpoint's own address.
PUBLIC = "https://unsub.acme-mail.test"


def link_for(world: World, recipient: str) -> str:
    (mail,) = [m for m in world.sink.messages() if m.rcpt_to.lower() == recipient]
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = " ".join(str(mail.message["List-Unsubscribe"]).split())
    (link,) = [part.strip(" <>") for part in header.split(",") if part.strip(" <>").startswith(PUBLIC)]
    return link


def test_an_unsubscribe_post_suppresses_the_address_for_the_namespace(world: World) -> None:
    ns = world.namespace
    leaving, staying = "leaving@example.test", "staying@example.test"
    world.apply(
        [
            pool(ns),
            mailbox(ns, world.sink),
            *campaign(ns, "first", [leaving, staying], f"{PUBLIC}/u/{{token}}"),
        ]
    )
    wait_for(
        lambda: world.campaign_phase("first") == "Completed", 180, "campaign first Completed", world.logs
    )

    link = link_for(world, leaving)
    parts = urlsplit(link)
    assert parts.path.startswith("/u/") and len(parts.path) > 40
    local = f"{world.endpoint.url}{parts.path}"
    # A scanner's GET changes nothing; the mail client's one-click POST suppresses at once.
    assert httpx.get(local).status_code == 200
    assert world.sql("SELECT count(*) FROM suppressions")[0][0] == 0
    done = httpx.post(local, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "unsubscribed" in done.text
    rows = world.sql("SELECT tenant, address, reason, source FROM suppressions")
    assert [tuple(r) for r in rows] == [(ns, leaving, "unsubscribe", "one-click:first")]

    # The second campaign of the namespace (links as ?token= this time) mails only who stayed.
    world.sink.clear()
    world.apply(campaign(ns, "second", [leaving, staying], f"{PUBLIC}/unsubscribe"))
    wait_for(
        lambda: world.campaign_phase("second") == "Completed", 180, "campaign second Completed", world.logs
    )
    assert sorted(m.rcpt_to.lower() for m in world.sink.messages()) == [staying]
    second = link_for(world, staying)
    assert "/unsubscribe?token=" in second
    jobs = world.sql(
        "SELECT j.recipient, j.state::text FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id "
        "WHERE c.name = 'second' ORDER BY 1"
    )
    assert (staying, "sent") in [tuple(j) for j in jobs]
    assert all(state != "sent" for recipient, state in jobs if recipient == leaving)
