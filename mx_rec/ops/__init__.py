"""Python wrappers of mx_rec's TensorFlow custom ops."""
