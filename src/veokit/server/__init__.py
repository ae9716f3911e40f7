"""veokit's HTTP surface: ``veokit serve`` (see :mod:`veokit.server.app`) and the receiver of providers'
callbacks (:mod:`veokit.server.kie_callback`)."""
