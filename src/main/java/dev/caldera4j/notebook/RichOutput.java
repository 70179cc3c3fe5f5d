package dev.caldera4j.notebook;

import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.Renderer;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import tech.tablesaw.api.NumericColumn;
import tech.tablesaw.api.Table;
import tech.tablesaw.columns.Column;
import tech.tablesaw.plotly.components.Figure;

/**
 * How cell results look in a notebook: a Tablesaw {@link Table} as an HTML table, a Tablesaw
 * {@link Figure} as an inline Plotly chart (see {@link PlotlyEmbed}). Both also carry text/plain
 * so a terminal client or a diff of the notebook still reads.
 */
public final class RichOutput {

    /** Rows shown before a table is cut: enough to read a results table, small enough for the page. */
    public static final int TABLE_MAX_ROWS = 60;

    private RichOutput() {
    }

    /** Registers the Table and Figure renderers on a kernel's renderer. */
    public static void register(Renderer renderer, PlotlyEmbed plotly) {
        renderer.createRegistration(Table.class)
                .preferring(MIMEType.TEXT_HTML)
                .supporting(MIMEType.TEXT_HTML, MIMEType.TEXT_PLAIN)
                .register((table, context) -> {
                    DisplayData out = context.getOutputContainer();
                    out.putHTML(tableHtml(table, TABLE_MAX_ROWS));
                    out.putText(table.print(TABLE_MAX_ROWS));
                });
        renderer.createRegistration(Figure.class)
                .preferring(MIMEType.TEXT_HTML)
                .supporting(MIMEType.TEXT_HTML, MIMEType.TEXT_PLAIN)
                .register((figure, context) -> {
                    DisplayData out = context.getOutputContainer();
                    out.putHTML(plotly.figureHtml(figure));
                    out.putText("Plotly figure (" + figure.getTraces().length + " trace(s)); open the notebook in a browser to see it");
                });
    }

    /**
     * The table as HTML: caption with name and shape, header, the first {@code maxRows} rows,
     * numbers right-aligned, every cell escaped.
     */
    public static String tableHtml(Table table, int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be ≥ 1, got " + maxRows);
        }
        int rows = table.rowCount();
        int shown = Math.min(rows, maxRows);
        StringBuilder html = new StringBuilder(256 + 64 * shown * Math.max(1, table.columnCount()));
        html.append("<table class=\"caldera4j-table\" style=\"border-collapse:collapse\">\n<caption style=\"text-align:left;white-space:nowrap\">");
        if (table.name() != null && !table.name().isBlank()) {
            html.append("<b>").append(escape(table.name())).append("</b> ");
        }
        html.append(rows).append(rows == 1 ? " row × " : " rows × ")
                .append(table.columnCount()).append(table.columnCount() == 1 ? " column" : " columns");
        if (shown < rows) {
            html.append(" (first ").append(shown).append(" shown)");
        }
        html.append("</caption>\n<thead><tr>");
        for (Column<?> column : table.columns()) {
            html.append("<th style=\"").append(align(column)).append("\">").append(escape(column.name())).append("</th>");
        }
        html.append("</tr></thead>\n<tbody>\n");
        for (int r = 0; r < shown; r++) {
            html.append("<tr>");
            for (Column<?> column : table.columns()) {
                html.append("<td style=\"").append(align(column)).append("\">")
                        .append(escape(column.getString(r))).append("</td>");
            }
            html.append("</tr>\n");
        }
        html.append("</tbody>\n</table>\n");
        return html.toString();
    }

    private static String align(Column<?> column) {
        return column instanceof NumericColumn<?> ? "text-align:right" : "text-align:left";
    }

    /** HTML text escaping for element content and double-quoted attributes. */
    static String escape(String text) {
        if (text == null) {
            return "";
        }
        StringBuilder out = new StringBuilder(text.length() + 16);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
