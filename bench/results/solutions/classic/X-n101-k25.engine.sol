Route #1: 81 51 83
Route #2: 7 2 45 43 29 36 72 57
Route #3: 30 85 11 79
Route #4: 14 49 6 37 87
Route #5: 66 84 90 68
Route #6: 17 8
Route #7: 25 65 78 42 28
Route #8: 86 9 92
Route #9: 76 55 16 69
Route #10: 34 64 96 48 26 47 38
Route #11: 3 77 63
Route #12: 39 10 18
Route #13: 89 98 99 62 71
Route #14: 20 41 22 15
Route #15: 40 67 88 44
Route #16: 52 91 50
Route #17: 35 46 31
Route #18: 21 56 94 80
Route #19: 5 12 58
Route #20: 24 95 73 53 33 32
Route #21: 74 13 4
Route #22: 54 70 1
Route #23: 75 93
Route #24: 23 61 100
Route #25: 19 97 27
Route #26: 59 60 82
Cost: 27591
