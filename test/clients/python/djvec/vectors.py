"""A vector model field, distance expressions and an hnsw index for
Django (this project's own, for the client tests)."""
import numpy as np
from django.contrib.postgres.indexes import PostgresIndex
from django.core import checks
from django.db import models
from django.db.models import FloatField, Func, Value


def vector_to_text(value):
    return "[" + ",".join(str(np.float32(v)) for v in np.asarray(value, np.float32)) + "]"


def vector_from_text(value):
    return np.array([np.float32(float(x)) for x in value[1:-1].split(",")], np.float32)


class VectorField(models.Field):
    description = "Vector"
    empty_strings_allowed = False

    def __init__(self, *args, dimensions=None, **kwargs):
        self.dimensions = dimensions
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        return name, path, args, kwargs

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.dimensions is not None and not (
                isinstance(self.dimensions, int) and 1 <= self.dimensions <= 16000):
            errors.append(checks.Error("dimensions must be an integer from 1 to 16000",
                                       obj=self, id="djvec.E001"))
        return errors

    def db_type(self, connection):
        if self.dimensions is None:
            return "vector"
        return "vector(%d)" % self.dimensions

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return vector_from_text(value)

    def to_python(self, value):
        if value is None or isinstance(value, np.ndarray):
            return value
        if isinstance(value, str):
            return vector_from_text(value)
        return np.asarray(value, dtype=np.float32)

    def get_prep_value(self, value):
        if value is None or isinstance(value, str):
            return value
        return vector_to_text(value)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


class _Distance(Func):
    function = ""
    output_field = FloatField()

    def __init__(self, expression, vector, **extra):
        if not hasattr(vector, "resolve_expression"):
            vector = Value(vector, output_field=VectorField())
        super().__init__(expression, vector, **extra)


class L2Distance(_Distance):
    arg_joiner = " <-> "


class CosineDistance(_Distance):
    arg_joiner = " <=> "


class MaxInnerProduct(_Distance):
    arg_joiner = " <#> "


class HnswIndex(PostgresIndex):
    suffix = "hnsw"

    def __init__(self, *expressions, m=None, ef_construction=None, **kwargs):
        self.m = m
        self.ef_construction = ef_construction
        super().__init__(*expressions, **kwargs)

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        if self.m is not None:
            kwargs["m"] = self.m
        if self.ef_construction is not None:
            kwargs["ef_construction"] = self.ef_construction
        return path, args, kwargs

    def get_with_params(self):
        params = []
        if self.m is not None:
            params.append("m = %d" % self.m)
        if self.ef_construction is not None:
            params.append("ef_construction = %d" % self.ef_construction)
        return params
