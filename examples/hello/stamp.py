"""Writes a C header with a build timestamp and a build id, as many generators do."""
import time
import uuid

print(f'#define PY_TIME "{time.time():.6f}"')
print(f'#define BUILD_ID "{uuid.uuid4()}"')
