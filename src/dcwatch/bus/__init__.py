"""The activity bus between sensors and the center: NATS JetStream, one stream per site.

``wire`` is the message format (activities and watermark marks), ``spool`` the sensor's bounded
disk buffer for when the bus is unreachable, ``jetstream`` the stream/consumer set-up. Only
``jetstream`` needs the ``nats-py`` client (``pip install 'dcwatch[bus]'``).
"""
