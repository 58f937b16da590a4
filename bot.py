"""Launcher: `python bot.py --help`. Nothing imports this file."""

from bot.cli import run

if __name__ == "__main__":
    run()
