"""The file-system side: reading, hashing and writing workspace trees."""
