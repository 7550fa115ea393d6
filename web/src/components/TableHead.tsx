import type { ReactNode } from "react";

/** A <thead> of column headers; a column without a visible title gets a screen-reader one. */
export function TableHead({ columns }: { columns: readonly (string | { hidden: string })[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column): ReactNode => (
          <th key={typeof column === "string" ? column : column.hidden} scope="col">
            {typeof column === "string" ? column : <span className="sr-only">{column.hidden}</span>}
          </th>
        ))}
      </tr>
    </thead>
  );
}
