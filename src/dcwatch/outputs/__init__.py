"""Ways out: JSON lines, tables, Excel, CEF syslog, webhooks."""
