"""edgepub: a serverless edge publishing pipeline (S3 -> SQS -> Lambda -> S3 + Cloudflare)."""

__version__ = "0.1.0"
