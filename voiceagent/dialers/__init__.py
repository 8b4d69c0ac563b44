"""The dialers the campaign engine loads by path (settings.NEWVOICE_DIALERS)."""

from voiceagent.dialers.livekit import LiveKitDialer
from voiceagent.dialers.simulator import SimulatorDialer

__all__ = ["LiveKitDialer", "SimulatorDialer"]
