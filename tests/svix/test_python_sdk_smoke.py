from svix.api import ApplicationIn, EndpointIn, EventTypeIn, MessageIn


def test_smoke(svix, receiver, worker):
    app = svix.application.get_or_create(ApplicationIn(name="Acme", uid="acme"))
    assert app.id.startswith("app_")
    svix.event_type.create(EventTypeIn(name="invoice.paid", description="paid"))
    ep = svix.endpoint.create(app.id, EndpointIn(url=receiver.url("/ok"), uid="ep1"))
    msg = svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"a": 1}))
    got = receiver.wait_for(1, "/ok")
    assert got and got[0].body == b'{"a":1}', got
    print(svix.message_attempt.list_by_msg(app.id, msg.id))
    print(ep)
