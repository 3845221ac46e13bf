"""pot_console: the operator console, a web page over potctl and POT's libraries (`potctl console`)."""
