"""The CloudWatch Logs API (AWS JSON 1.1, ``Logs_20140328.*``): thin handlers over ``LogStore``."""
