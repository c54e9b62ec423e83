from monitor import command

raise SystemExit(command())
