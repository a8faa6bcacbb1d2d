"""Rich renderings shared by the commands (tables, money, charts)."""
