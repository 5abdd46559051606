"""InfraValidator: loads the model in a real serving process and sends requests.
"""
