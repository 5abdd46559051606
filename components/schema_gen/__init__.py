"""SchemaGen / ImportSchemaGen: a data schema inferred from statistics or imported.
"""
