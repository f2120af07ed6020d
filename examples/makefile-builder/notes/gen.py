"""Writes release notes stamped with the generation time, a UUID and the topics found."""
import os
import time
import uuid

print(f"generated: {time.time():.6f}")
print(f"id: {uuid.uuid4()}")
print("topics:", " ".join(os.listdir("topics")))
