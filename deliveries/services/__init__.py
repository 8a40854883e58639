"""Delivery services, one module per stage of the pipeline:

- ``publishing``: validate and store an event, enqueue its fan-out after commit;
- ``dispatch``: hand delivery ids to the broker, in batches, after commit;
- ``fanout``: one delivery per subscribed endpoint;
- ``sending``: claim a batch, sign, send concurrently, record attempts and outcomes;
- ``sweep``: recover what the broker or a dead worker lost;
- ``lifecycle``: replay, cancel and resume;
- ``endpoint_lifecycle``: an endpoint's update, disable, enable, circuit reset and delete, with
  what each does to its deliveries (``endpoints.services`` writes only the endpoint's row).
"""
