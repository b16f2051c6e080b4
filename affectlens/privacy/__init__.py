"""Privacy by design: blurring faces in every pixel that leaves the process."""
