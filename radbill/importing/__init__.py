"""Pure customer import: read CSV/XLSX safely, propose a column mapping, check rows with the form's rules."""

from radbill.importing.files import MAX_FILE_BYTES, ImportFileError, Table, read_table
from radbill.importing.mapping import (
           FIELD_BY_KEY,
           FIELDS,
           check_mapping,
           column_samples,
           mapping_warnings,
           propose_mapping,
)
from radbill.importing.rows import (
           Catalog,
           Review,
           RowResult,
           check_rows,
           distinct_values,
           mapping_from_form,
           problem_rows_csv,
           problem_text,
           propose_value_map,
           row_form,
)
from radbill.importing.template import example_row, template_csv, template_xlsx

__all__ = ["MAX_FILE_BYTES", "ImportFileError", "Table", "read_table", "FIELDS", "FIELD_BY_KEY", "check_mapping",
           "column_samples", "mapping_warnings", "propose_mapping", "Catalog", "Review", "RowResult", "check_rows",
           "distinct_values", "mapping_from_form", "problem_rows_csv", "problem_text", "propose_value_map", "row_form",
           "example_row", "template_csv", "template_xlsx"]
