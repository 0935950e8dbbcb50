"""The embedded stack: moto (S3, SQS, DynamoDB, Secrets Manager) and a Cloudflare
API emulator on loopback, with the stack created from template.yaml and the
functions run in-process the way Lambda's event source mappings would."""
