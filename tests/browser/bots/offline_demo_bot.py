"""`vani serve`'s offline demo bot as a bot file for `vani run` (Silero, Whisper, the scripted
pizza dialogue, Piper), for the browser tests of Pipecat's prebuilt client."""

from vani.server.demo_bot import DemoBotOptions, make_demo_bot

bot, _engines = make_demo_bot(DemoBotOptions(offline=True))
