"""Command line: the GUI, the sandbox server and its tools."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the GUI or to a sub-command; return the process exit code."""
    if getattr(sys, "frozen", False):
        # Only a frozen build needs it (STACK_NOTES 6); importing multiprocessing
        # costs every other start ~15 ms.
        import multiprocessing

        multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "sandbox":
        from console.sandbox.cli import main as sandbox_main

        return sandbox_main(args[1:])
    if args and args[0] == "ingest":
        from console.commands.ingest import main as ingest_main

        return ingest_main(args[1:])
    if args and args[0] == "validate":
        from console.commands.validate import main as validate_main

        return validate_main(args[1:])
    from console.app.main import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())
