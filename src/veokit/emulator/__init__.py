"""A faithful local emulator of Google's Veo wire protocols (Vertex AI and the Gemini API).

It speaks real HTTP, so the official google-genai SDK, veokit's providers and users' CI all talk to it
unchanged::

    from veokit.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(latency_s=0.3), port=0) as emu:
        client = genai.Client(vertexai=True, api_key="test-key",
                              http_options=types.HttpOptions(base_url=emu.base_url + "/"))
"""

from veokit.emulator.app import create_app
from veokit.emulator.config import EmulatorConfig
from veokit.emulator.server import EmulatorServer, serve

__all__ = ["EmulatorConfig", "EmulatorServer", "create_app", "serve"]
